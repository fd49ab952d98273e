"""The CRL, CA and OCSP links follow the port the demo serves on (issue 22: they named 8000
whatever ENCOMPASS_PORT was). Each case is a fresh process reading the settings."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What the CRL / CA / OCSP URLs are built on (devices.identity.services.common).
PROBE = (
    "import django; django.setup();"
    "from devices.identity.services.common import _base;"
    "print(_base())"
)


def _base_url(**env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"ENCOMPASS_PORT", "ENCOMPASS_PUBLIC_BASE_URL", "DATABASE_URL", "REDIS_URL"}
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="encompass.settings")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_public_base_url_follows_encompass_port():
    assert _base_url() == "http://127.0.0.1:8000"
    assert _base_url(ENCOMPASS_PORT="9123") == "http://127.0.0.1:9123"
    # An explicit public URL (a deployment behind a proxy) still wins.
    assert (
        _base_url(ENCOMPASS_PORT="9123", ENCOMPASS_PUBLIC_BASE_URL="https://fleet.example.com")
        == "https://fleet.example.com"
    )


def test_make_run_passes_the_port_to_the_seed_and_the_server():
    makefile = (ROOT / "Makefile").read_text()
    seed = next(line for line in makefile.splitlines() if "manage.py seed_demo" in line)
    server = next(line for line in makefile.splitlines() if "PORT=$(PORT) CREDENTIALS" in line)
    assert "ENCOMPASS_PORT=$(PORT)" in seed and "ENCOMPASS_PORT=$(PORT)" in server
