"""Concurrent creates and state changes with real threads on PostgreSQL: no deadlock, exactly
one winner where there must be one (two workers fuzzing POST /api/v1/api-keys/ deadlocked)."""

import pytest

from encompass.tenancy.models import ApiKey
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key
from encompass.testing.concurrency import run_threads

from .conftest import report, scale

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]


def test_concurrent_api_key_creates_never_deadlock(world):
    admin = world.a.user(Role.ADMIN)
    rounds, threads = scale(5, 25), 4

    def work(i):
        made = 0
        for r in range(rounds):
            create_api_key(
                organization=world.a.org, name=f"k{i}-{r}", role=Role.AUDITOR, actor=admin, days=5
            )
            made += 1
        return made

    _, errors = run_threads(threads, work)
    report(
        "concurrent-api-keys",
        sent=rounds * threads,
        stored=ApiKey.objects.count(),
        errors=len(errors),
    )
    assert not errors, errors
    assert ApiKey.objects.count() == rounds * threads


def test_concurrent_posts_to_the_api_key_endpoint_never_deadlock(world):
    from rest_framework.test import APIClient

    admin = world.a.user(Role.ADMIN)
    _, raw = create_api_key(
        organization=world.a.org, name="automation", role=Role.ADMIN, actor=admin, days=5
    )
    rounds, threads = scale(5, 25), 4

    def work(i):
        client = APIClient()
        codes = []
        for r in range(rounds):
            response = client.post(
                "/api/v1/api-keys/",
                {"organization": world.a.org.pk, "name": f"k{i}-{r}", "role": "auditor"},
                format="json",
                HTTP_AUTHORIZATION=f"Bearer {raw}",
            )
            codes.append(response.status_code)
        return codes

    results, errors = run_threads(threads, work)
    codes = [c for r in results if r for c in r]
    report(
        "concurrent-api-key-posts",
        sent=rounds * threads,
        acknowledged=codes.count(201),
        stored=ApiKey.objects.count() - 1,
        errors=len(errors),
    )
    assert not errors, errors
    assert codes.count(201) == rounds * threads, codes
    assert ApiKey.objects.count() - 1 == rounds * threads


def test_concurrent_invitations_and_acceptances_of_one_member_have_one_winner(world):
    from encompass.exceptions import NotPermitted, ValidationError
    from encompass.tenancy.invitations import accept_invitation, invite_member
    from encompass.tenancy.models import Membership, MembershipInvitation
    from encompass.testing.factories import make_user

    admin = world.a.user(Role.ADMIN)
    newcomer = make_user("newcomer")

    def invite(i):
        try:
            invite_member(
                organization=world.a.org, username="newcomer", role=Role.OPERATOR, actor=admin
            )
            return "won"
        except ValidationError:
            return "refused"

    results, errors = run_threads(4, invite)
    report("concurrent-invitation", sent=4, won=results.count("won"), errors=len(errors))
    assert not errors, errors
    assert sorted(results) == ["refused", "refused", "refused", "won"]
    invitation = MembershipInvitation.objects.get(username="newcomer")

    def accept(i):
        try:
            accept_invitation(invitation, actor=newcomer)
            return "won"
        except (NotPermitted, ValidationError):
            return "refused"

    results, errors = run_threads(4, accept)
    report("concurrent-membership-accept", sent=4, won=results.count("won"), errors=len(errors))
    assert not errors, errors
    assert sorted(results) == ["refused", "refused", "refused", "won"]
    assert Membership.objects.filter(user=newcomer).count() == 1


def test_concurrent_transitions_of_one_device_have_one_winner(world):
    from devices.choices import LifecycleState
    from devices.models import LifecycleTransition
    from devices.services import transition_device
    from encompass.exceptions import ValidationError
    from encompass.testing.factories import make_device, make_device_type

    kind = make_device_type(world.a.org, supports_certificates=False)
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=kind, state=LifecycleState.DEPLOYED
    )
    operator = world.a.user(Role.ADMIN)

    def work(i):
        try:
            transition_device(device, LifecycleState.MAINTENANCE, actor=operator, reason=f"t{i}")
            return "won"
        except ValidationError:
            return "refused"

    results, errors = run_threads(4, work)
    report("concurrent-device-transition", sent=4, won=results.count("won"), errors=len(errors))
    assert not errors, errors
    assert results.count("won") == 1
    assert LifecycleTransition.objects.filter(device=device, to_state="maintenance").count() == 1
