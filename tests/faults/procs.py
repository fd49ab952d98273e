"""Processes the fault suite owns: a Redis and a PostgreSQL of its own, on free ports in a
temporary folder, that a test may kill and start again (the machine's services are never
touched)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from encompass.testing.servers import free_port

PG_BIN = Path(os.environ.get("ENCOMPASS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _wait_port(port, up=True, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return True
        except OSError:
            if not up:
                return True
        time.sleep(0.05)
    raise AssertionError(f"port {port} did not go {'up' if up else 'down'} in {timeout} s")


class RedisProcess:
    """``redis-server --port <free> --save '' --dir <tmp>``: no persistence, as in the outage the
    suite injects (a restart comes back empty)."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="enc-faults-redis-")
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)
        return self

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        _wait_port(self.port, up=False)

    def restart(self):
        self.kill()
        return self.start()

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresProcess:
    """A PostgreSQL cluster of its own (Debian's initdb + pg_ctl), trust auth on 127.0.0.1."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="enc-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "log"
        subprocess.run(
            [PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._as_postgres(),
        )

    def _as_postgres(self):
        # initdb refuses to run as root: run the cluster as the postgres user then.
        if os.geteuid() != 0:
            return {}
        import pwd

        entry = pwd.getpwnam("postgres")
        os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        for path in self.dir.rglob("*"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def url(self, name="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self):
        subprocess.run(
            [
                PG_BIN / "pg_ctl",
                "-D",
                self.data,
                "-l",
                self.log,
                "-w",
                "-o",
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **self._as_postgres(),
        )
        _wait_port(self.port)
        return self

    def stop(self, mode="immediate"):
        subprocess.run(
            [PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._as_postgres(),
        )
        _wait_port(self.port, up=False)

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
