"""Production settings refuse to start without real secrets; a production-style environment
passes ``manage.py check --deploy --fail-level WARNING``. Each case is a fresh process."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path, **overrides):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}
    }
    env.update(
        {
            "ENCOMPASS_ENV": "production",
            "ENCOMPASS_VAR_DIR": str(tmp_path),
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "encompass.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://encompass.example.com",
            "DATABASE_URL": "postgres://encompass@db.example.com:5432/encompass",
            "REDIS_URL": "redis://redis.example.com:6379/0",
            "ENCOMPASS_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(
                secrets.token_bytes(32)
            ).decode(),
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_production_style_env_passes_the_deploy_check(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 60}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "a" * 80}, "SECRET_KEY is too weak"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must be set"),
        ({"DATABASE_URL": None}, "DATABASE_URL must be set"),
        ({"REDIS_URL": None}, "REDIS_URL must be set"),
        ({"ENCOMPASS_KEY_ENCRYPTION_KEY": None}, "ENCOMPASS_KEY_ENCRYPTION_KEY must be set"),
        ({"ENCOMPASS_KEY_ENCRYPTION_KEY": "too-short"}, "32 random bytes"),
    ],
)
def test_production_refuses_to_start_without_real_values(tmp_path, overrides, message):
    result = manage(production_env(tmp_path, **overrides), "check")
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "secret_key").exists()  # never falls back to a generated secret


def test_embedded_default_generates_private_secrets(tmp_path):
    env = production_env(tmp_path, ENCOMPASS_ENV=None, SECRET_KEY=None, DATABASE_URL=None)
    env.pop("REDIS_URL", None)
    env.pop("ENCOMPASS_KEY_ENCRYPTION_KEY", None)
    result = manage(env, "check")
    assert result.returncode == 0, result.stderr
    secret = tmp_path / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(secret.read_text()) >= 50
    assert (tmp_path / "key_encryption_key").stat().st_mode & 0o777 == 0o600
