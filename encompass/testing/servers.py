"""Real web processes for tests: ``python -m encompass.server`` (or plain daphne) serving the
pytest-django test database, started, waited for (``/healthz``) and stopped in one place."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60


class ServerDidNotStart(AssertionError):
    pass


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(db):
    """A DATABASE_URL another process can use for the database Django's ``settings_dict`` names
    (PostgreSQL, or an SQLite file)."""
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:memorydb"):
            raise ServerDidNotStart(
                "A server process needs a database it can open: set DATABASE_URL (PostgreSQL), "
                "as `make test` does."
            )
        return f"sqlite:///{name}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(str(db['NAME']), safe='')}"


class WebServer:
    """One web process on a free port; ``with WebServer(...) as server:`` starts it and waits
    until ``/healthz`` answers, and stops it (SIGTERM, then SIGKILL) afterwards.

    ``db_url`` is its DATABASE_URL (``database_url(connection.settings_dict)`` for the test
    database); ``env`` is added to this process's environment (a value of None removes the
    variable); ``module`` is what runs with ``python -m``; ``command`` replaces the whole command
    line (``{port}`` in it becomes the port); the output goes to ``log_path`` (None: standard
    output discarded, errors to this process's standard error).
    """

    def __init__(self, db_url, log_path=None, *, env=None, module="encompass.server", command=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path is not None else None
        self.module = module
        self.command = command
        self.env = {**os.environ, "DATABASE_URL": db_url}
        self.env.pop("TEST_DATABASE_NAME", None)  # the child uses the test database as it is
        for key, value in (env or {}).items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self.process = None

    def output(self):
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def start(self):
        command = [sys.executable, "-m", self.module, "-b", "127.0.0.1", "-p", str(self.port)]
        command += ["encompass.asgi:application"]
        if self.command is not None:
            command = [part.replace("{port}", str(self.port)) for part in self.command]
        if self.log_path is None:  # output discarded, errors to this process's stderr
            output = {"stdout": subprocess.DEVNULL}
        else:
            output = {"stdout": self.log_path.open("wb"), "stderr": subprocess.STDOUT}
        try:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, **output)
        finally:
            if self.log_path is not None:
                output["stdout"].close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerDidNotStart(
                    f"{self.module} exited with {self.process.returncode}:\n{self.output()[-4000:]}"
                )
            try:
                health = f"{self.url}/healthz"  # always http://127.0.0.1
                with urllib.request.urlopen(health, timeout=10) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerDidNotStart(
            f"{self.module} did not answer /healthz in time:\n{self.output()[-4000:]}"
        )

    def stop(self):
        """Stop the process; True if it stopped on SIGTERM."""
        if self.process is None or self.process.poll() is not None:
            return True
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
            return True
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
