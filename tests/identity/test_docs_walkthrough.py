"""docs/identity.md's device-maker walk-through, run as written (bash, openssl, jq, curl) against
a live server: if the documented commands stop working, this fails."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devices.choices import LifecycleState
from devices.identity import services
from devices.identity.models import DeviceCertificate
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

DOC = Path(__file__).resolve().parents[2] / "docs" / "identity.md"


def block(name):
    text = DOC.read_text()
    match = re.search(
        rf"<!-- walkthrough:{name} -->\s*```sh\n(.*?)```\s*<!-- /walkthrough:{name} -->", text, re.S
    )
    assert match, f"walk-through block {name!r} missing from {DOC}"
    return match.group(1)


@pytest.mark.skipif(not (shutil.which("jq") and shutil.which("curl")), reason="needs jq and curl")
@pytest.mark.django_db(transaction=True)
def test_documented_enrollment_and_renewal_work(live_server, tmp_path):
    from encompass.testing.world import build_world

    world = build_world()
    services.create_certificate_authority(organization=world.a.org, actor=world.a.user(Role.ADMIN))
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
    _token, plaintext = services.create_enrollment_token(device, actor=world.a.user(Role.OPERATOR))
    env = {"PATH": "/usr/bin:/bin", "BASE": live_server.url, "DEVICE_UID": device.uid}
    env["TOKEN"] = plaintext
    script = "set -euo pipefail\n" + block("enroll") + block("renew")
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "device.crt: OK" in result.stdout and "device-next.crt: OK" in result.stdout
    certs = DeviceCertificate.objects.filter(device=device).order_by("pk")
    assert certs.count() == 2
    assert certs[1].replaces_id == certs[0].pk
    on_disk = (tmp_path / "device.crt").read_text()
    assert on_disk.strip() == certs[1].certificate_pem.strip()
