"""Load for the fault scenarios: device clients that post batches with their own event ids and
retry a batch (same ids) until it is answered, as a device with a store-and-forward buffer does."""

import threading
import time

import httpx
from django.utils import timezone


class DeviceClient(threading.Thread):
    """Posts ``batches`` batches of ``size`` events to the first URL that answers; a batch that
    gets no answer (connection refused, reset, 5xx, timeout) is sent again, unchanged."""

    def __init__(self, urls, token, *, name, batches, size, pause=0.02, deadline=120.0):
        super().__init__(daemon=True, name=f"device-{name}")
        self.urls, self.token, self.tag = list(urls), token, name
        self.batches, self.size, self.pause, self.deadline = batches, size, pause, deadline
        self.sent, self.acknowledged, self.retries, self.errors = set(), set(), 0, []

    def run(self):
        stop_at = time.monotonic() + self.deadline
        with httpx.Client(timeout=5) as http:
            for b in range(self.batches):
                items = [
                    {
                        "id": f"{self.tag}-{b}-{i}",
                        "kind": "telemetry",
                        "occurred_at": timezone.now().isoformat(),
                        "payload": {"metrics": {"n": i}},
                    }
                    for i in range(self.size)
                ]
                self.sent.update(item["id"] for item in items)
                attempt = 0
                while time.monotonic() < stop_at:
                    url = self.urls[attempt % len(self.urls)]
                    attempt += 1
                    try:
                        response = http.post(
                            f"{url}/api/device/v1/events",
                            json=items,
                            headers={"Authorization": f"Device {self.token}"},
                        )
                    except httpx.HTTPError:
                        response = None
                    if response is not None and response.status_code == 200:
                        for answer in response.json()["results"]:
                            if answer["status"] in ("accepted", "duplicate"):
                                self.acknowledged.add(answer["id"])
                        break
                    if response is not None and response.status_code < 500:
                        self.errors.append(f"{response.status_code}: {response.text[:200]}")
                        break
                    self.retries += 1
                    time.sleep(0.2)
                time.sleep(self.pause)
