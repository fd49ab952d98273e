"""End to end with a real update agent: Debian's SWUpdate in suricatta (hawkBit) mode against a
web process on loopback, installing signed ``.swu`` images this test builds.

The scenario, on one device:

1. a rollout offers 2.0.0; SWUpdate polls, downloads, verifies (CMS signature, sha1 from the
   deployment, sha256 of sw-description) and installs it -- the file appears in the temporary
   "root file system" -- and reports the chunk installed;
2. the agent restarts as after the reboot (``-c 2``: the new image came up), closes the action
   with success and sends its configData (``firmware_version`` 2.0.0): the reboot-health rule
   confirms the update and the rollout completes;
3. a release whose image declares a wrong hash is refused by SWUpdate, reported as a failure,
   and pauses its rollout at the failure threshold;
4. an update offered and then cancelled (rollout aborted) reaches the agent as a cancelAction,
   which it acknowledges.

SWUpdate's own log (and the server's) is shown when anything fails.
"""

import shutil
import signal
import subprocess
import time

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from devices.choices import LifecycleState
from devices.firmware import services
from devices.firmware.choices import RolloutStatus, UpdateStatus
from devices.firmware.ddi.services import open_action
from devices.firmware.models import DeviceUpdate
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from encompass.testing.servers import WebServer, database_url
from tests.firmware.conftest import register_vendor

from .swu import Signer, build_swu

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("swupdate") is None, reason="needs Debian's swupdate"),
]
HARDWARE = "encompass-test:1.0"
WAIT = 60


class Agent:
    """One run of ``swupdate`` in suricatta mode; its output goes to a log file."""

    def __init__(self, folder, name, *, server, org, device, token, signer, version, sv):
        self.log_path = folder / f"swupdate-{name}.log"
        config = folder / f"swupdate-{name}.cfg"
        config.write_text(
            "globals : { verbose = true; loglevel = 6; };\n"
            "identify : (\n"
            f'  {{ name = "firmware_version"; value = "{version}"; }},\n'
            f'  {{ name = "security_version"; value = "{sv}"; }},\n'
            '  { name = "agent"; value = "swupdate"; }\n'
            ");\n"
        )
        self.command = [
            "swupdate", "-v", "-f", str(config), "-k", str(signer.cert_path), "-H", HARDWARE,
            "-u", f"-t {org.slug} -u {server.url} -i {device.uid} -k {token}",
        ]  # fmt: skip
        self.env = {"TMPDIR": str(folder), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        self.process = None

    def start(self, *extra_suricatta):
        if extra_suricatta:
            self.command[-1] += " " + " ".join(extra_suricatta)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Scene:
    def __init__(self, server, tmp_path):
        self.server = server
        self.tmp_path = tmp_path
        self.agents = []

    def agent(self, name, **kwargs):
        agent = Agent(self.tmp_path, name, server=self.server, **kwargs)
        self.agents.append(agent)
        return agent

    def logs(self):
        parts = [f"--- {a.log_path.name} ---\n{a.log()[-6000:]}" for a in self.agents]
        parts.append(f"--- server ---\n{self.server.output()[-3000:]}")
        return "\n".join(parts)

    def wait_for(self, what, predicate, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            for agent in self.agents:
                code = agent.process.poll() if agent.process is not None else None
                if code is not None and code not in (0, -signal.SIGTERM):
                    raise AssertionError(
                        f"swupdate exited with {code} waiting for {what}\n{self.logs()}"
                    )
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")


def release(tenant, vendor, device_type, version, sv, data):
    statement_sig = vendor.sign(
        device_types=[device_type], version=version, security_version=sv, data=data
    )
    uploaded = services.upload_release(
        organization=tenant.org,
        device_types=[device_type],
        version=version,
        security_version=sv,
        artifact=ContentFile(data, name=f"acme-gw-{version}.swu"),
        signature=statement_sig,
        actor=tenant.user(Role.OPERATOR),
    )
    return services.approve_release(uploaded, actor=tenant.user(Role.SECURITY_OFFICER))


def rollout(tenant, rel, device_type, **settings):
    created = services.create_rollout(
        organization=tenant.org,
        release=rel,
        device_type=device_type,
        name=f"SWUpdate {rel.version}",
        waves=[{"percent": 100}],
        max_start_delay_seconds=0,
        soak_minutes=0,
        success_threshold=100,
        failure_threshold=0,
        actor=tenant.user(Role.OPERATOR),
        **settings,
    )
    return services.start_rollout(created, actor=tenant.user(Role.OPERATOR))


def status_of(rollout_obj, device):
    return DeviceUpdate.objects.get(rollout=rollout_obj, device=device)


def test_swupdate_installs_fails_and_cancels_through_ddi(world, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the web process needs the PostgreSQL test database")
    tenant = world.a
    vendor = register_vendor(tenant)
    gateway_type = make_device_type(tenant.org, manufacturer="Acme", model="GW-7")
    device = make_device(
        tenant.org,
        site=tenant.sites[0],
        device_type=gateway_type,
        state=LifecycleState.DEPLOYED,
        firmware_version="1.0.0",
        firmware_security_version=1,
        name="swupdate-gw",
    )
    device, token = rotate_device_token(device, actor=tenant.user(Role.ADMIN))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    signer = Signer(tmp_path)
    good = release(
        tenant, vendor, gateway_type, "2.0.0", 2,
        build_swu(signer, version="2.0.0", payload=b"image 2.0.0\n" * 100,
                  install_to=rootfs / "app-2.0.0.bin", hardware="1.0"),
    )  # fmt: skip
    first = rollout(tenant, good, gateway_type)
    env = {
        "ENCOMPASS_MEDIA_ROOT": str(tmp_path / "media"),
        "ENCOMPASS_DDI_POLL_SECONDS": "1",
        "ENCOMPASS_DEVICE_RATE": "100000/min",
        "ENCOMPASS_EVENT_TAIL": "0",
        "LOG_LEVEL": "WARNING",
    }
    common = {"org": tenant.org, "device": device, "token": token, "signer": signer}
    with WebServer(database_url(connection.settings_dict), tmp_path / "server.log", env=env) as s:
        scene = Scene(s, tmp_path)
        try:
            # 1. offered, downloaded, installed: the file appears; the chunk is reported done.
            run1 = scene.agent("install", version="1.0.0", sv=1, **common).start()
            scene.wait_for(
                "SWUpdate to install 2.0.0",
                lambda: (
                    (rootfs / "app-2.0.0.bin").exists()
                    and status_of(first, device).status == UpdateStatus.INSTALLING
                ),
            )
            assert (rootfs / "app-2.0.0.bin").read_bytes() == b"image 2.0.0\n" * 100
            run1.stop()
            assert "Installing file payload.bin" in run1.log(), scene.logs()

            # 2. "reboot": the agent starts on the new image and confirms it (-c 2).
            run2 = scene.agent("after-reboot", version="2.0.0", sv=2, **common).start("-c 2")
            scene.wait_for(
                "the update to be confirmed healthy",
                lambda: status_of(first, device).status == UpdateStatus.SUCCEEDED,
            )
            done = services.advance_rollout(first)
            assert done.status == RolloutStatus.COMPLETED, scene.logs()
            device.refresh_from_db()
            assert (device.firmware_version, device.firmware_security_version) == ("2.0.0", 2)

            # 3. an image with a wrong hash: refused by the agent, failed, rollout paused.
            bad = release(
                tenant, vendor, gateway_type, "2.1.0", 2,
                build_swu(signer, version="2.1.0", payload=b"image 2.1.0\n" * 100,
                          install_to=rootfs / "app-2.1.0.bin", wrong_hash=True),
            )  # fmt: skip
            second = rollout(tenant, bad, gateway_type)
            scene.wait_for(
                "the bad image to be reported failed",
                lambda: status_of(second, device).status == UpdateStatus.FAILED,
            )
            second.refresh_from_db()
            assert second.status == RolloutStatus.PAUSED, scene.logs()
            assert "threshold" in second.status_reason
            assert not (rootfs / "app-2.1.0.bin").exists()
            assert "HASH mismatch" in run2.log(), scene.logs()
            run2.stop()

            # 4. offered, then the rollout is aborted: the cancel reaches the agent.
            third_release = release(
                tenant, vendor, gateway_type, "2.2.0", 3,
                build_swu(signer, version="2.2.0", payload=b"image 2.2.0\n",
                          install_to=rootfs / "app-2.2.0.bin"),
            )  # fmt: skip
            third = rollout(tenant, third_release, gateway_type)
            kind, offered = open_action(device)  # the device saw the offer, then went quiet
            assert kind == "deployment" and offered.rollout_id == third.pk
            services.abort_rollout(third, actor=tenant.user(Role.OPERATOR), reason="bad batch")
            assert status_of(third, device).status == UpdateStatus.CANCELLED
            run3 = scene.agent("cancel", version="2.0.0", sv=2, **common).start()
            scene.wait_for(
                "the agent to acknowledge the cancel",
                lambda: status_of(third, device).cancel_acknowledged_at is not None,
            )
            assert "cancel" in run3.log().lower(), scene.logs()
            assert not (rootfs / "app-2.2.0.bin").exists()
        finally:
            for agent in scene.agents:
                agent.stop()
