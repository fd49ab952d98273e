"""A real OpenID Connect provider for tests: ``oidc-provider-mock`` (PyPI) in its own process.

    with OidcProvider(tmp_path) as idp:
        idp.set_user("alice", {"groups": ["fleet-ops"], "preferred_username": "alice"})
        idp.issuer  # http://127.0.0.1:<free port>

Its authorization page is a form asking for the subject to sign in as; ``authorize`` answers it
the way a browser would and returns the redirect back to us (with the code). Users' claims are
set with its ``PUT /users/<sub>`` API and are read by its token, ID-token and userinfo answers,
so changing them changes what the next sign-in or refresh sees.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .servers import ServerDidNotStart, free_port


class OidcProvider:
    def __init__(self, directory, *, token_max_age=3600):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(directory) / f"oidc-provider-{self.port}.log"
        self.token_max_age = token_max_age
        self.process = None

    def start(self):
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oidc_provider_mock",
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
                "--token-max-age",
                str(self.token_max_age),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerDidNotStart(f"oidc-provider-mock exited: {self.log_path.read_text()}")
            try:
                if httpx.get(
                    f"{self.issuer}/.well-known/openid-configuration", timeout=1
                ).is_success:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise ServerDidNotStart(f"oidc-provider-mock did not answer: {self.log_path.read_text()}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def set_user(self, sub, claims):
        """Create or replace the user ``sub`` with ``claims`` (groups, amr, names ...)."""
        response = httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        response.raise_for_status()

    def revoke_tokens(self, sub):
        """Revoke every access and refresh token of ``sub`` (as disabling the user would)."""
        httpx.post(f"{self.issuer}/users/{sub}/revoke-tokens", timeout=5).raise_for_status()

    def authorize(self, authorization_url, sub):
        """Answer the authorization page as ``sub``; returns the redirect URL back to the client."""
        response = httpx.post(authorization_url, data={"sub": sub}, timeout=5)
        if response.status_code != 302:
            raise AssertionError(f"the provider answered {response.status_code}: {response.text}")
        return response.headers["location"]
