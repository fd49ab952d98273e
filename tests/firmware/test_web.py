"""Web UI pages: render for members, 404 across tenants, actions through the services, and the
JSON the live page refetches."""

import pytest
from django.test import Client

from devices.firmware import services
from devices.firmware.choices import RolloutStatus
from encompass.tenancy.roles import Role

from .conftest import deployed_devices

pytestmark = pytest.mark.django_db


def login(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def rollout(world, releases, sensor):
    _old, new = releases
    deployed_devices(world.a, sensor, 3)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=new,
        device_type=sensor,
        name="Spring",
        actor=world.a.user(Role.OPERATOR),
        waves=[{"count": 1}, {"percent": 100}],
    )
    return services.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))


def test_pages_render_for_an_auditor(world, rollout, releases):
    client = login(world.a.user(Role.AUDITOR))
    device = rollout.updates.first().device
    for url in (
        "/firmware/",
        "/firmware/releases/",
        f"/firmware/releases/{releases[1].pk}/",
        f"/firmware/rollouts/{rollout.pk}/",
        f"/firmware/devices/{device.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/firmware/rollouts/{rollout.pk}/").content.decode()
    assert "rollout.js" in page and 'data-wave="1"' in page
    data = client.get(f"/firmware/rollouts/{rollout.pk}/progress.json").json()
    assert [w["planned"] for w in data["waves"]] == [1, 2]


def test_other_tenant_sees_nothing(world, rollout):
    client = login(world.b.user(Role.OPERATOR))
    assert client.get(f"/firmware/rollouts/{rollout.pk}/").status_code == 404
    assert client.get(f"/firmware/rollouts/{rollout.pk}/progress.json").status_code == 404
    assert (
        client.post(f"/firmware/rollouts/{rollout.pk}/pause/", {"reason": "x"}).status_code == 404
    )
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.RUNNING


def test_actions_go_through_the_services(world, rollout):
    auditor = login(world.a.user(Role.AUDITOR))
    auditor.post(f"/firmware/rollouts/{rollout.pk}/pause/", {"reason": "x"})
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.RUNNING
    operator = login(world.a.user(Role.OPERATOR))
    response = operator.post(f"/firmware/rollouts/{rollout.pk}/pause/", {"reason": "checking"})
    assert response.status_code == 302
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED


def test_demo_seed(world, sensor):
    from devices.firmware import demo
    from devices.firmware.models import FirmwareRelease, Rollout
    from encompass.demo import DemoContext, DemoOrg

    devices = deployed_devices(world.a, sensor, 6, version="", security_version=0)
    ctx = DemoContext(
        orgs=[DemoOrg(org=world.a.org, sites=world.a.sites, users=world.a.users)],
        credentials=[],
        data={"devices": {world.a.org.slug: devices}},
        log=lambda *a: None,
    )
    demo.seed(ctx)
    assert FirmwareRelease.objects.filter(status="approved").count() == 4
    statuses = sorted(Rollout.objects.values_list("status", flat=True))
    assert statuses == ["completed", "draft", "running"]


def test_rollout_settings_are_words_not_a_python_dict(world, rollout):
    page = login(world.a.user(Role.AUDITOR)).get(f"/firmware/rollouts/{rollout.pk}/")
    html = page.content.decode()
    assert "2 waves, cumulative: 1 device, then all" in html
    assert "{&#x27;count&#x27;" not in html and "{'count'" not in html and "[{" not in html


def test_rollout_progress_over_time(world, rollout):
    from django.utils import timezone

    from devices.firmware.choices import UpdateStatus
    from devices.firmware.services.progress import progress_timeline

    now = timezone.now()
    first, second = list(rollout.updates.order_by("pk"))[:2]
    type(first).objects.filter(pk=first.pk).update(
        offered_at=now, status=UpdateStatus.SUCCEEDED, finished_at=now
    )
    type(first).objects.filter(pk=second.pk).update(
        offered_at=now, status=UpdateStatus.FAILED, finished_at=now
    )
    timeline = progress_timeline(rollout)
    assert timeline["unit"] == "minute"
    assert [p[1] for p in timeline["series"]["offered"]][-1] == 2
    assert [p[1] for p in timeline["series"]["succeeded"]] == [1]
    assert [p[1] for p in timeline["series"]["failed"]] == [1]
    client = login(world.a.user(Role.AUDITOR))
    data = client.get(f"/firmware/rollouts/{rollout.pk}/progress.json").json()
    assert data["timeline"] == timeline
    page = client.get(f"/firmware/rollouts/{rollout.pk}/").content.decode()
    assert 'id="rollout-chart"' in page and 'id="rollout-timeline"' in page
