"""A Mosquitto process of its own (tests, benchmarks): the configuration ``mqtt_broker_config``
generates, in a temporary folder, on free ports. Never the machine's broker on 1883."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class Mosquitto:
    """``folder``'s generated mosquitto.conf, run in the foreground; its log in the folder."""

    def __init__(self, folder, device_port, service_port):
        self.folder = Path(folder)
        self.device_port = device_port
        self.service_port = service_port
        self.process = None
        self.log = self.folder / "mosquitto.log"

    def start(self):
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")],
                stdout=handle,
                stderr=handle,
            )
        wait_port(self.device_port)
        wait_port(self.service_port)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Mosquitto saves its persistence file
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self):
        self.stop()
        return self.start()

    def log_text(self):
        return self.log.read_text(errors="replace")
