"""The device side of the update protocol: a reference manifest verifier, and the fleet
simulator's firmware behaviour (``manage.py simulate_fleet``).

``verify_manifest`` is what a device maker's client must do, in this order; the tests and the
simulator use it, so the documented protocol is the tested one.
"""

import base64
import datetime
import hashlib
import json
import os
import random

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import signing

CLOCK_SKEW = datetime.timedelta(minutes=5)


class ManifestRejected(Exception):
    """The manifest must not be acted on; the message says why."""


def _public_key(key):
    if isinstance(key, Ed25519PublicKey):
        return key
    return signing.load_public_key(key)


def verify_manifest(response, public_key, *, device_uid, security_version, nonce=None, now=None):
    """Check a ``GET /api/device/v1/update`` answer; return the manifest payload or raise.

    1. the signature verifies over the exact manifest bytes, with the provisioned key;
    2. it is a manifest for this device, and (when the device sent one) echoes its nonce;
    3. it has not expired (and was not issued in the future): freeze attacks fail here;
    4. an offered release never has a lower security version than the device runs.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        body = base64.b64decode(response["manifest"], validate=True)
        signature = base64.b64decode(response["signature"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestRejected("malformed manifest response") from exc
    try:
        _public_key(public_key).verify(signature, body)
    except InvalidSignature as exc:
        raise ManifestRejected("signature does not verify") from exc
    payload = json.loads(body)
    if payload.get("format") != signing.MANIFEST_FORMAT:
        raise ManifestRejected("unknown manifest format")
    if payload.get("device") != device_uid:
        raise ManifestRejected("manifest is for another device")
    if nonce is not None and payload.get("nonce") != nonce:
        raise ManifestRejected("nonce does not match the request (replayed manifest)")
    try:
        issued = datetime.datetime.fromisoformat(payload["issued_at"])
        expires = datetime.datetime.fromisoformat(payload["expires_at"])
    except (KeyError, ValueError) as exc:
        raise ManifestRejected("manifest has no valid validity period") from exc
    if now >= expires:
        raise ManifestRejected("manifest expired")
    if issued > now + CLOCK_SKEW:
        raise ManifestRejected("manifest issued in the future")
    if payload.get("update") and int(payload["security_version"]) < int(security_version):
        raise ManifestRejected(
            f"downgrade refused: security version {payload['security_version']} is below "
            f"the {security_version} this device runs"
        )
    return payload


def verify_artifact(payload, data: bytes):
    """The downloaded image must have exactly the manifest's size and SHA-256."""
    if len(data) != int(payload["size"]):
        raise ManifestRejected(f"image is {len(data)} bytes, manifest says {payload['size']}")
    if hashlib.sha256(data).hexdigest() != payload["sha256"]:
        raise ManifestRejected("image SHA-256 does not match the manifest")
    return True


# --- the simulator behaviour ---------------------------------------------------------------------


def _uid(state):
    device = getattr(state, "device", None)
    return getattr(device, "uid", None) or getattr(state, "uid", None)


def default_failure_rate():
    try:
        return float(os.environ.get("ENCOMPASS_SIM_UPDATE_FAILURE_RATE", "0.05"))
    except ValueError:
        return 0.05


class FirmwareUpdateBehaviour:
    """A simulated device taking part in rollouts.

    ``device_state`` is the simulator's ``SimulatedDevice`` (``device``, ``headers``,
    ``firmware_version`` -- which its heartbeats report, so switching it is the "reboot into the
    new image" -- and ``emit``); ``client`` is the simulator's ``httpx.Client`` (set after
    construction). Each tick moves one step: poll → verify → download → install → reboot
    → report. A release whose manifest metadata has ``{"simulation": {"failure_rate": x}}`` (the
    demo's "bad" release) fails with that probability instead of the default.
    """

    poll_every = 3  # ticks between manifest polls when idle
    prefix = "/api/device/v1/"

    def __init__(self, device_state, client, *, failure_rate=None, rng=None):
        self.state = device_state
        self.client = client
        self.failure_rate = default_failure_rate() if failure_rate is None else failure_rate
        self.rng = rng or random.Random()
        self.public_key = None
        self.manifest = None
        self.step = "idle"
        self.ticks = self.rng.randint(0, self.poll_every)
        self.plan = None
        self.log = []
        device = getattr(device_state, "device", None)
        self.security_version = getattr(device, "firmware_security_version", 0) or 0
        self._ddi = None  # the hawkBit DDI agent, when the simulator speaks DDI

    def _path(self, tail):
        return self.prefix + tail

    @property
    def headers(self):
        return getattr(self.state, "headers", {}) or {}

    def _status(self, status, reason=""):
        response = self.client.post(
            self._path("update/status"),
            json={"update_id": self.manifest["update_id"], "status": status, "reason": reason},
            headers=self.headers,
        )
        self.log.append((status, response.status_code))
        return response

    def _rate(self):
        sim = (self.manifest.get("metadata") or {}).get("simulation") or {}
        try:
            return float(sim.get("failure_rate", self.failure_rate))
        except (TypeError, ValueError):
            return self.failure_rate

    def _rate_of(self, action):
        """The failure rate for a DDI deployment (the release metadata, as DDI chunk metadata)."""
        for item in action["deployment"]["chunks"][0].get("metadata", []):
            if item.get("key") == "simulation":
                try:
                    return float(json.loads(item["value"]).get("failure_rate", self.failure_rate))
                except (TypeError, ValueError, AttributeError):
                    break
        return self.failure_rate

    def tick(self):
        if self.client is None:
            return
        if getattr(self.state, "protocol", "native") == "ddi":
            if self._ddi is None:
                from .ddi.simulation import DDIAgent

                self._ddi = DDIAgent(self)
            self._ddi.tick()
            return
        self.ticks += 1
        handler = getattr(self, f"_on_{self.step}")
        try:
            handler()
        except httpx.HTTPError as exc:  # web server unreachable: try again on a later tick
            self.log.append(("unreachable", str(exc)))
        except ManifestRejected as exc:
            self.log.append(("rejected", str(exc)))
            if self.manifest and self.manifest.get("update_id"):
                self._status("failed", f"manifest or image refused: {exc}")
            self.step, self.manifest = "idle", None

    def _on_idle(self):
        if self.ticks % self.poll_every:
            return
        if self.public_key is None:
            response = self.client.get(self._path("update/key"), headers=self.headers)
            if response.status_code != 200:
                return
            self.public_key = signing.load_public_key(response.json()["public_key"])
        nonce = base64.urlsafe_b64encode(os.urandom(12)).decode()
        response = self.client.get(
            self._path("update"), params={"nonce": nonce}, headers=self.headers
        )
        if response.status_code != 200:
            return
        payload = verify_manifest(
            response.json(),
            self.public_key,
            device_uid=_uid(self.state),
            security_version=self.security_version,
            nonce=nonce,
        )
        if not payload.get("update"):
            return
        self.manifest = payload
        self.step = "download"

    def _on_download(self):
        self._status("downloading")
        url = self.manifest["url"]
        path = url[url.index(self.prefix) :] if self.prefix in url else url
        response = self.client.get(path, headers=self.headers)
        if response.status_code != 200:
            self._status("failed", f"download answered {response.status_code}")
            self.step, self.manifest = "idle", None
            return
        verify_artifact(self.manifest, response.content)
        roll = self.rng.random()
        rate = self._rate()
        # A failure is split between a refused install and an image that does not come back
        # healthy after the reboot (which only the reboot-health rule catches).
        self.plan = "ok" if roll >= rate else ("install" if roll < rate / 2 else "boot")
        self.step = "install"

    def _on_install(self):
        self._status("installing")
        if self.plan == "install":
            self._status("failed", "simulated flash write error")
            self.step, self.manifest = "idle", None
            return
        self.step = "reboot"

    def _on_reboot(self):
        self._status("rebooting")
        if self.plan == "ok":
            self.state.firmware_version = self.manifest["version"]
            self.security_version = int(self.manifest["security_version"])
        # "boot" failures: the bootloader falls back to the old image; heartbeats keep
        # reporting the old version and the platform fails the update.
        self.step = "report"

    def _on_report(self):
        self._status("succeeded")
        # the first heartbeat after the reboot, with the security version it now runs
        emit = getattr(self.state, "emit", None)
        if emit is not None:
            emit(
                "heartbeat",
                {
                    "firmware_version": self.state.firmware_version,
                    "security_version": self.security_version,
                },
            )
        self.step, self.manifest = "idle", None
