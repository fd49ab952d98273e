"""The seeded demo the crawl and the scanner share: ``manage.py seed_demo`` (committed, so a web
process sees it too) plus a row of each admin model the demo leaves empty, written through the
services. Seeded once for this folder and flushed after it."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

DEMO, OTHER = "northwind", "helios"
PRIVATE = "WEBHOOK_ALLOW_PRIVATE_NETWORKS"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def complete_demo():
    """What the demo does not have: an API key, a webhook endpoint and a delivery, an SLA policy
    and a breach, a retention policy, an organization's own threat, an incident without a
    playbook, in each organization (the crawl opens every admin model's change page and every
    form a page can offer, so each needs a row)."""
    from django.conf import settings
    from django.test.utils import override_settings

    from encompass.events.models import Event
    from encompass.events.retention import policy_for
    from encompass.tenancy import crud
    from encompass.tenancy.models import Organization
    from encompass.tenancy.roles import Role
    from encompass.tenancy.services import create_api_key
    from encompass.webhooks.services import create_webhook_endpoint, queue_deliveries_for_event
    from incidents.models import Incident, SlaPolicy
    from incidents.services.incidents import declare_incident
    from incidents.services.sla import check_sla_breaches
    from risk.models import Threat

    for org in Organization.objects.filter(slug__in=[DEMO, OTHER]):
        admin = org.memberships.get(role=Role.ADMIN, sites__isnull=True).user
        create_api_key(
            organization=org,
            name=f"{org.slug} SIEM export",
            role=Role.AUDITOR,
            days=30,
            actor=admin,
        )
        # A loopback target (allowed for the set-up only): nothing resolves names here, and
        # nothing is sent (no worker runs).
        with override_settings(ENCOMPASS={**settings.ENCOMPASS, PRIVATE: True}):
            endpoint, _secret = create_webhook_endpoint(
                organization=org,
                name=f"{org.slug} ticketing",
                url=f"http://127.0.0.1:9/hooks/{org.slug}",
                event_prefixes=["incident."],
                actor=admin,
            )
        event = Event.objects.filter(organization=org, kind__startswith="incident.").first()
        if event is not None:
            queue_deliveries_for_event(event, endpoints=[endpoint])
        crud.create_object(
            SlaPolicy,
            {
                "organization": org,
                "severity": "critical",
                "acknowledge_minutes": 15,
                "contain_minutes": 60,
                "resolve_minutes": 240,
            },
            actor=admin,
        )
        policy_for(org)
        # An organization's own threat (the demo uses the shared catalogue only), and an
        # incident no playbook was applied to (the demo applies one to each).
        crud.create_object(
            Threat,
            {
                "organization": org,
                "code": f"{org.slug}-tampered-meter",
                "name": f"Tampered field unit ({org.name})",
                "stride": "tampering",
            },
            actor=admin,
        )
        declare_incident(
            organization=org,
            title=f"Unexplained reboot loop at {org.sites.first().name}",
            severity="low",
            actor=admin,
        )
        assert Incident.objects.filter(organization=org).exists()
    check_sla_breaches(now=timezone.now() + datetime.timedelta(days=60))


@pytest.fixture(scope="package")
def demo(django_db_setup, django_db_blocker):
    """The demo, committed; flushed (as after any transactional test) when the folder is done."""
    from django.test.utils import override_settings

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        call_command("seed_demo", stdout=StringIO())
        complete_demo()
        yield
        call_command("flush", interactive=False, verbosity=0)
