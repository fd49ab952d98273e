"""Email to the people working an incident and to the organization's Security officers (RS.CO).

Mail is sent after the transaction commits, so a mail server outage never undoes the change that
caused the message; failures are logged.
"""

import logging

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction

from encompass.tenancy.models import Membership
from encompass.tenancy.roles import Role

logger = logging.getLogger(__name__)


def incident_url(incident):
    from django.urls import reverse

    base = settings.ENCOMPASS.get("PUBLIC_BASE_URL", "").rstrip("/")
    return base + reverse("incidents_ui:detail", args=[incident.pk])


def _send(messages):
    try:
        send_mass_mail(messages, fail_silently=False)
    except Exception:
        logger.exception("could not send %d incident notification(s)", len(messages))


def notify_people(incident, users, *, subject, body):
    """Queue one email per user with an address (sent on commit); returns the addresses."""
    addresses = sorted({u.email for u in users if u is not None and u.email and u.is_active})
    if not addresses:
        return []
    text = (
        f"{body}\n\n{incident.reference} · {incident.get_severity_display()} · "
        f"{incident.get_phase_display()}\n{incident.title}\n\n{incident_url(incident)}\n"
    )
    messages = [(subject, text, settings.DEFAULT_FROM_EMAIL, [a]) for a in addresses]
    transaction.on_commit(lambda: _send(messages))
    return addresses


def responders_of(incident):
    people = list(incident.responders.all())
    if incident.assignee_id:
        people.append(incident.assignee)
    return people


def notify_responders(incident, *, subject, body):
    return notify_people(incident, responders_of(incident), subject=subject, body=body)


def security_officers(organization):
    return [
        m.user
        for m in Membership.objects.filter(
            organization=organization, role=Role.SECURITY_OFFICER
        ).select_related("user")
    ]


def notify_security_officers(incident, *, subject, body):
    return notify_people(
        incident, security_officers(incident.organization), subject=subject, body=body
    )
