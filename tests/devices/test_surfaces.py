"""procured → disposed through each surface (API, web UI, admin), web pages per role and tenant,
and the admin changelist's constant query count."""

import pytest
from django.urls import reverse

from devices.choices import LifecycleState
from devices.models import Device, Tag
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

S = LifecycleState
pytestmark = pytest.mark.django_db

PATH = [S.PROVISIONED, S.DEPLOYED, S.MAINTENANCE, S.DEPLOYED, S.DECOMMISSIONING]
ITEMS = [
    ("credentials", {"reason": "Retired"}),
    ("rollouts", {"reason": "Retired"}),
    (
        "data_wipe",
        {"method": "crypto_erase", "attested_by": "Tess Field", "notes": "keys zeroised"},
    ),
    ("retention", {"decision": "anonymise", "justification": "Keep fleet statistics only"}),
]
DISPOSAL = (
    "disposal",
    {"method": "recycled", "certificate_reference": "COD-9", "handled_by": "GreenWEEE"},
)


def _assert_history(device, actor_label):
    device.refresh_from_db()
    assert device.state == S.DISPOSED
    rows = list(device.transitions.order_by("created_at", "pk"))
    assert [r.to_state for r in rows] == [*PATH, S.DECOMMISSIONED, S.DISPOSED]
    assert {r.actor_label for r in rows} == {actor_label}
    assert all(r.reason.startswith("step") for r in rows)
    assert device.decommissioning.complete


def test_whole_life_through_the_api(world, api, device):
    client = api(world.a.user(Role.OPERATOR))

    def go(target, n):
        response = client.post(
            reverse("device-transition", args=[device.pk]), {"to": target, "reason": f"step {n}"}
        )
        assert response.status_code == 200, response.content

    for n, target in enumerate(PATH):
        go(target, n)
    for item, body in ITEMS:
        response = client.post(reverse("device-checklist-item", args=[device.pk, item]), body)
        assert response.status_code == 200, response.content
    go(S.DECOMMISSIONED, 90)
    item, body = DISPOSAL
    assert (
        client.post(reverse("device-checklist-item", args=[device.pk, item]), body).status_code
        == 200
    )
    go(S.DISPOSED, 99)
    checklist = client.get(reverse("device-checklist", args=[device.pk])).json()
    assert checklist["complete"] and [i["done"] for i in checklist["items"]] == [True] * 5
    assert (
        client.post(reverse("device-checklist-item", args=[device.pk, "nope"]), {}).status_code
        == 404
    )
    _assert_history(device, "a-operator")


def _web_steps(client, device, prefix, follow=True):
    """Post the forms a person would post (transition, checklist) and follow the redirects."""

    def go(target, n):
        response = client.post(
            reverse(f"{prefix}transition", args=[device.pk]),
            {"to": target, "reason": f"step {n}"},
            follow=follow,
        )
        assert response.status_code == (200 if follow else 302)
        device.refresh_from_db()
        assert device.state == target, response

    def record(item, body):
        data = {f"{item}-{k}": v for k, v in body.items()}
        response = client.post(
            reverse(f"{prefix}checklist", args=[device.pk, item]), data, follow=follow
        )
        assert response.status_code == (200 if follow else 302)
        assert device.__class__.objects.get(pk=device.pk).decommissioning.is_done(item), response

    for n, target in enumerate(PATH):
        go(target, n)
    for item, body in ITEMS:
        record(item, body)
    go(S.DECOMMISSIONED, 90)
    record(*DISPOSAL)
    go(S.DISPOSED, 99)


def test_whole_life_through_the_web_ui(world, web, device):
    client = web(world.a.user(Role.OPERATOR))
    page = client.get(reverse("devices_ui:detail", args=[device.pk]))
    assert page.status_code == 200 and b"Change state" in page.content
    _web_steps(client, device, "devices_ui:")
    page = client.get(reverse("devices_ui:detail", args=[device.pk]))
    assert b"COD-9" in page.content and b"step 99" in page.content
    _assert_history(device, "a-operator")


def test_whole_life_through_the_admin(world, web, device):
    client = web(world.a.user(Role.ADMIN))
    page = client.get(reverse("admin:devices_device_change", args=[device.pk]))
    assert page.status_code == 200 and b"Change state" in page.content
    _web_steps(client, device, "admin:devices_device_", follow=False)
    page = client.get(reverse("admin:devices_device_change", args=[device.pk]))
    text = page.content.decode()
    assert "Decommissioning checklist" in text, text[text.find("lifecycle-panel") - 200 :][:3000]
    assert "COD-9" in text and "step 99" in text
    _assert_history(device, "a-admin")


def test_refusal_is_shown_and_changes_nothing(world, web, device):
    client = web(world.a.user(Role.OPERATOR))
    response = client.post(
        reverse("devices_ui:transition", args=[device.pk]),
        {"to": "disposed", "reason": "x"},
        follow=True,
    )
    assert "Allowed next states: Provisioned, Decommissioning." in next(
        str(m) for m in response.context["messages"]
    )
    device.refresh_from_db()
    assert device.state == S.PROCURED


@pytest.mark.parametrize("role", Role.values)
def test_web_pages_per_role(world, web, device, role):
    client = web(world.a.user(role))
    listing = client.get(reverse("devices_ui:list"))
    assert listing.status_code == 200 and device.uid.encode() in listing.content
    detail = client.get(reverse("devices_ui:detail", args=[device.pk]))
    assert detail.status_code == 200
    assert (b'aria-label="Change state"' in detail.content) == (role != Role.AUDITOR)
    assert client.get(reverse("devices_ui:inventory")).status_code == 200
    if role == Role.AUDITOR:
        response = client.post(
            reverse("devices_ui:transition", args=[device.pk]), {"to": "provisioned", "reason": "x"}
        )
        device.refresh_from_db()
        assert device.state == S.PROCURED and response.status_code == 302


def test_web_cross_tenant_is_not_found(world, web):
    theirs = make_device(world.b.org, site=world.b.sites[0])
    client = web(world.a.user(Role.ADMIN))
    assert client.get(reverse("devices_ui:detail", args=[theirs.pk])).status_code == 404
    assert (
        client.post(
            reverse("devices_ui:transition", args=[theirs.pk]), {"to": "provisioned", "reason": "x"}
        ).status_code
        == 404
    )
    assert client.post(reverse("devices_ui:token", args=[theirs.pk])).status_code == 404
    assert theirs.uid.encode() not in client.get(reverse("devices_ui:list")).content
    assert client.get(reverse("admin:devices_device_change", args=[theirs.pk])).status_code in (
        302,
        404,
    )


def test_web_token_shown_once(world, web, device):
    client = web(world.a.user(Role.OPERATOR))
    response = client.post(reverse("devices_ui:token", args=[device.pk]))
    token = response.context["new_token"]
    assert token.startswith("dtk_") and token.encode() in response.content
    assert token.encode() not in client.get(reverse("devices_ui:detail", args=[device.pk])).content


def test_web_list_filters(world, web, plain_type):
    a = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED, name="alpha"
    )
    b = make_device(world.a.org, site=world.a.sites[1], device_type=plain_type, name="bravo")
    client = web(world.a.user(Role.AUDITOR))
    page = client.get(reverse("devices_ui:list"), {"state": "deployed"})
    assert a.uid.encode() in page.content and b.uid.encode() not in page.content
    page = client.get(reverse("devices_ui:list"), {"q": "brav"})
    assert b.uid.encode() in page.content and a.uid.encode() not in page.content


def test_web_import(world, web, plain_type):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = web(world.a.user(Role.OPERATOR))
    text = f"serial_number,name,device_type\nW-1,Web one,{plain_type.pk}\nW-2,,{plain_type.pk}\n".encode()
    response = client.post(
        reverse("devices_ui:import"),
        {"organization": world.a.org.pk, "file": SimpleUploadedFile("x.csv", text)},
    )
    assert response.status_code == 200 and response.context["report"].errors[0].line == 3
    assert not Device.objects.exists()


def test_admin_bulk_transition_action(world, web, plain_type):
    devices = [
        make_device(world.a.org, site=world.a.sites[0], device_type=plain_type) for _ in range(3)
    ]
    make_device(world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED)
    client = web(world.a.user(Role.OPERATOR))
    url = reverse("admin:devices_device_changelist")
    ids = [str(d.pk) for d in Device.objects.all()]
    confirm = client.post(url, {"action": "transition_selected", "_selected_action": ids})
    assert confirm.status_code == 200 and b"Apply" in confirm.content
    done = client.post(
        url,
        {
            "action": "transition_selected",
            "_selected_action": ids,
            "apply": "1",
            "to": "provisioned",
            "reason": "batch",
        },
        follow=True,
    )
    texts = [str(m) for m in done.context["messages"]]
    assert "3 device(s) changed state." in texts
    assert any("cannot become provisioned" in t for t in texts)
    assert all(Device.objects.get(pk=d.pk).state == S.PROVISIONED for d in devices)


def _count_queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_admin_changelist_query_count_is_constant(
    world, web, plain_type, django_assert_max_num_queries
):
    """The count at 5 devices is the ceiling at 50 (the admin's per-model permission checks
    make the absolute number large, but it does not depend on the rows)."""
    client = web(world.a.user(Role.OPERATOR))
    url = reverse("admin:devices_device_changelist")
    tag = Tag.objects.create(organization=world.a.org, name="t")

    def grow(n):
        while Device.objects.count() < n:
            make_device(
                world.a.org,
                site=world.a.sites[Device.objects.count() % 2],
                device_type=plain_type,
                firmware_version=f"1.{Device.objects.count() % 3}",
            ).tags.add(tag)

    grow(5)
    ceiling, response = _count_queries(client, url)
    assert response.content.count(b'class="action-select"') == 5
    grow(50)
    with django_assert_max_num_queries(ceiling):
        response = client.get(url)
    assert response.content.count(b'class="action-select"') == 50


def test_web_list_query_count_is_constant(world, web, plain_type, django_assert_max_num_queries):
    client = web(world.a.user(Role.OPERATOR))
    tag = Tag.objects.create(organization=world.a.org, name="t")
    url = reverse("devices_ui:list")
    for n in (5, 50):
        while Device.objects.count() < n:
            make_device(world.a.org, site=world.a.sites[0], device_type=plain_type).tags.add(tag)
        if n == 5:
            ceiling, _ = _count_queries(client, url)
        else:
            with django_assert_max_num_queries(ceiling):
                assert client.get(url).status_code == 200
