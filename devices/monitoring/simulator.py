"""A simulated fleet that speaks the real device API over HTTP with real device credentials."""

import math
import random
import time
import uuid
from dataclasses import dataclass, field

from django.utils import timezone

METRICS = {
    # metric: (typical baseline range, daily swing, noise)
    "temp_c": ((18.0, 32.0), 2.5, 0.25),
    "humidity_pct": ((30.0, 60.0), 6.0, 0.8),
    "cpu_pct": ((5.0, 35.0), 8.0, 2.0),
}
SECURITY_SIGNALS = [
    "auth_failure",
    "auth_failure",
    "auth_failure",
    "port_scan",
    "unexpected_reboot",
]


@dataclass
class SimulatedDevice:
    """What behaviours see: the device, its credential, and an outbox of events to send."""

    device: object
    token: str
    base_url: str
    rng: random.Random
    firmware_version: str = "1.0.0"
    outbox: list = field(default_factory=list)
    baselines: dict = field(default_factory=dict)
    next_heartbeat: float = 0.0
    telemetry_credit: float = 0.0

    def emit(self, kind, payload):
        self.outbox.append(
            {
                "id": uuid.uuid4().hex,
                "kind": kind,
                "occurred_at": timezone.now().isoformat(),
                "payload": payload,
            }
        )

    @property
    def headers(self):
        return {"Authorization": f"Device {self.token}"}


class Simulation:
    def __init__(self, devices, *, rate, anomaly_rate, security_rate, rng, behaviours=()):
        self.devices = devices
        self.rate = rate
        self.anomaly_rate = anomaly_rate
        self.security_rate = security_rate
        self.rng = rng
        for sim in devices:
            sim.baselines = {
                m: rng.uniform(*spec[0]) for m, spec in METRICS.items() if rng.random() < 0.85
            } or {"temp_c": rng.uniform(18, 30)}
        self.behaviours = [[cls(sim, None) for cls in behaviours] for sim in devices]

    def value(self, sim, metric, now):
        base = sim.baselines[metric]
        _range, swing, noise = METRICS[metric]
        value = base + swing * math.sin(now / 600 + sim.device.pk) + self.rng.gauss(0, noise)
        if self.rng.random() < self.anomaly_rate:
            value += self.rng.choice([-1, 1]) * swing * self.rng.uniform(6, 12)
        return round(value, 2)

    def tick(self, elapsed):
        now = time.time()
        for sim, behaviours in zip(self.devices, self.behaviours, strict=True):
            if now >= sim.next_heartbeat:
                interval = sim.device.device_type.heartbeat_interval
                sim.emit(
                    "heartbeat",
                    {"firmware_version": sim.firmware_version, "uptime_s": int(now) % 864000},
                )
                sim.next_heartbeat = now + interval * self.rng.uniform(0.9, 1.0)
            sim.telemetry_credit += self.rate * elapsed
            while sim.telemetry_credit >= 1:
                sim.telemetry_credit -= 1
                sim.emit(
                    "telemetry",
                    {"metrics": {m: self.value(sim, m, now) for m in sim.baselines}},
                )
            if self.rng.random() < self.security_rate * elapsed:
                signal = self.rng.choice(SECURITY_SIGNALS)
                sim.emit("security", {"signal": signal, "detail": "simulated"})
            for behaviour in behaviours:
                behaviour.tick()
