"""``manage.py simulate_fleet --devices N --rate R``: a fleet that reports over the real API
(HTTP by default; ``--transport mqtt`` publishes through the broker with a certificate per device,
see devices/mqtt/simulator.py).

Picks N in-service devices of the organization (registering and deploying more through the
device services when there are fewer), gives each a fresh per-device token
(``rotate_device_token``, acting as the organization's first Admin -- the audit trail names that
Admin), then posts batches to ``/api/device/v1/events`` with httpx: heartbeats at each device
type's interval, telemetry at R samples per second per device around per-device baselines,
occasional anomalies and security signals, plus every registered simulator behaviour. It keeps
going when the web server restarts (retry with backoff; event ids make resending safe).
"""

import logging
import random
import time

import httpx
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from devices.choices import ACTIVE_STATES, LifecycleState
from devices.models import Device, DeviceType
from devices.monitoring.hooks import simulator_behaviours
from devices.monitoring.simulator import SimulatedDevice, Simulation
from devices.services import register_device, rotate_device_token, transition_device
from encompass.exceptions import ValidationError
from encompass.tenancy.models import Membership, Organization
from encompass.tenancy.roles import Role

ACTOR_NOTE = "acting for the fleet simulator"
SIM_REASON = "Fleet simulator device"


class Command(BaseCommand):
    help = "Simulate devices reporting over the real device API (heartbeats, telemetry, signals)."

    def add_arguments(self, parser):
        parser.add_argument("--devices", type=int, default=25)
        parser.add_argument("--rate", type=float, default=1.0, help="Telemetry samples/s/device.")
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--organization", help="Organization slug (default: the first).")
        parser.add_argument(
            "--protocol",
            choices=["native", "ddi", "mixed"],
            default="native",
            help="How devices take updates: the native signed-manifest protocol, hawkBit DDI "
            "(as SWUpdate / RAUC do), or mixed (every other device on DDI); heartbeats, "
            "telemetry and signals are sent as usual.",
        )
        parser.add_argument("--anomaly-rate", type=float, default=0.01)
        parser.add_argument("--security-rate", type=float, default=0.002, help="Per device per s.")
        parser.add_argument("--flush", type=float, default=2.0, help="Seconds between batches.")
        parser.add_argument("--duration", type=float, default=0, help="Stop after S s (0: never).")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--transport",
            choices=("http", "mqtt"),
            default="http",
            help="mqtt: publish over MQTT with a certificate per device (docs/mqtt.md).",
        )
        parser.add_argument("--mqtt-host", default="127.0.0.1")
        parser.add_argument("--mqtt-port", type=int, default=None, help="The device listener.")
        parser.add_argument("--mqtt-ca", default=None, help="The broker's CA (broker-ca.pem).")

    def handle(self, *args, **opts):
        # One line per HTTP request would drown the console of `make run`.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        if opts["devices"] < 1 or opts["rate"] <= 0 or opts["flush"] <= 0:
            raise CommandError("--devices, --rate and --flush must be positive.")
        org = self._organization(opts["organization"])
        admin = self._admin(org)
        devices = self._devices(org, admin, opts["devices"])
        rng = random.Random(opts["seed"])
        sims = []
        for index, device in enumerate(devices):
            device, token = rotate_device_token(device, actor=admin)
            sim_device = SimulatedDevice(device=device, token=token, base_url=opts["url"], rng=rng)
            protocol = opts["protocol"]
            if protocol == "mixed":
                protocol = "ddi" if index % 2 == 0 else "native"
            sim_device.protocol = protocol  # read by the firmware update behaviour
            sims.append(sim_device)
        self.stdout.write(
            f"Simulating {len(sims)} device(s) of {org.name} against {opts['url']} "
            f"(updates over {opts['protocol']}; tokens rotated by {admin.get_username()}, "
            f"{ACTOR_NOTE})."
        )
        sim = Simulation(
            sims,
            rate=opts["rate"],
            anomaly_rate=opts["anomaly_rate"],
            security_rate=opts["security_rate"],
            rng=rng,
            behaviours=simulator_behaviours(),
        )
        self.mqtt = None
        if opts["transport"] == "mqtt":
            from devices.mqtt.conf import broker_dir, mqtt_settings
            from devices.mqtt.simulator import MqttTransport

            self.mqtt = MqttTransport(
                sims,
                actor=admin,
                host=opts["mqtt_host"],
                port=opts["mqtt_port"] or mqtt_settings()["DEVICE_PORT"],
                ca_file=opts["mqtt_ca"] or broker_dir() / "broker-ca.pem",
            )
        try:
            self._run(sim, opts)
        finally:
            if self.mqtt is not None:
                self.mqtt.close()

    def _organization(self, slug):
        orgs = Organization.objects.order_by("pk")
        org = orgs.filter(slug=slug).first() if slug else orgs.first()
        if org is None:
            raise CommandError(
                "No such organization." if slug else "No organization yet: run seed_demo first."
            )
        return org

    def _admin(self, org):
        membership = (
            Membership.objects.filter(organization=org, role=Role.ADMIN, user__is_active=True)
            .select_related("user")
            .order_by("pk")
            .first()
        )
        if membership is None:
            raise CommandError(f"{org} has no active Admin to act for the simulator.")
        return membership.user

    def _devices(self, org, admin, wanted):
        devices = list(
            Device.objects.filter(organization=org, state__in=ACTIVE_STATES)
            .select_related("device_type", "organization", "site")
            .order_by("pk")[:wanted]
        )
        missing = wanted - len(devices)
        if missing > 0:
            devices += self._create(org, admin, missing, len(devices))
        return devices

    def _create(self, org, admin, count, offset):
        device_type, _ = DeviceType.objects.get_or_create(
            organization=org,
            manufacturer="Encompass",
            model="Simulated sensor",
            hardware_revision="",
            defaults={"heartbeat_interval": 30, "description": "Created by simulate_fleet."},
        )
        site = org.sites.order_by("pk").first()
        created = []
        for n in range(count):
            try:
                with transaction.atomic():
                    device = register_device(
                        actor=admin,
                        organization=org,
                        device_type=device_type,
                        serial_number=f"SIM-{offset + n + 1:05d}-{random.randrange(10**6):06d}",
                        name=f"sim-{offset + n + 1:03d}",
                        site=site,
                    )
                    transition_device(
                        device, LifecycleState.PROVISIONED, actor=admin, reason=SIM_REASON
                    )
            except ValidationError as exc:
                self.stderr.write(f"Could not bring a simulated device into service: {exc}")
                break
            try:
                with transaction.atomic():
                    transition_device(
                        device, LifecycleState.DEPLOYED, actor=admin, reason=SIM_REASON
                    )
            except ValidationError as exc:  # e.g. deployment needs an enrolled certificate
                self.stderr.write(f"{device.name} stays provisioned: {'; '.join(exc.messages)}")
            created.append(
                Device.objects.select_related("device_type", "organization", "site").get(
                    pk=device.pk
                )
            )
        return created

    def _run(self, sim, opts):
        started = last = time.monotonic()
        backoff = 1.0
        sent = 0
        with httpx.Client(base_url=opts["url"], timeout=10) as client:
            device_clients = []
            for device, behaviours in zip(sim.devices, sim.behaviours, strict=True):
                # Behaviours get a client that already carries the device's credential.
                own = httpx.Client(base_url=opts["url"], timeout=10, headers=device.headers)
                device_clients.append(own)
                for behaviour in behaviours:
                    behaviour.client = own
            while not opts["duration"] or time.monotonic() - started < opts["duration"]:
                now = time.monotonic()
                sim.tick(now - last)
                last = now
                try:
                    for device in sim.devices:
                        sent += self._flush(client, device)
                    backoff = 1.0
                except httpx.HTTPError as exc:
                    self.stderr.write(f"web server unreachable ({exc}); retrying in {backoff:.0f}s")
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30)
                    continue
                time.sleep(opts["flush"])
            for own in device_clients:
                own.close()
        self.stdout.write(f"Sent {sent} event(s).")

    def _flush(self, client, device):
        if not device.outbox:
            return 0
        if self.mqtt is not None:
            return self.mqtt.flush(device)
        batch = device.outbox[:1000]
        response = client.post("/api/device/v1/events", json=batch, headers=device.headers)
        if response.status_code == 200:
            del device.outbox[: len(batch)]
            return response.json()["accepted"]
        if response.status_code in (401, 403):
            self.stderr.write(
                f"{device.device.name}: refused ({response.status_code}); dropping it"
            )
            device.outbox.clear()
            return 0
        if response.status_code >= 500 or response.status_code == 429:
            raise httpx.HTTPError(f"HTTP {response.status_code}")
        self.stderr.write(f"{device.device.name}: {response.status_code} {response.text[:200]}")
        device.outbox.clear()
        return 0
