"""Organization-wide checks: the audit trail, second factors, incident reviews, risk treatment."""

from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from encompass.tenancy.roles import permission_codename

from . import CheckOutcome, register


@register(
    "audit-trail-intact",
    "The audit trail verifies intact",
    maps={
        "nist-csf": ["PR.PS-04"],
        "iec-62443-4-2": ["CR 2.8", "CR 3.9"],
        "iso-27001-annex-a": ["A.8.15", "A.5.33"],
    },
    device_scoped=False,
    remedy="Investigate the reported entries: an edited or deleted audit row is an incident.",
)
def audit_trail_intact(organization, *, now):
    """The organization's hash chain has no edited, inserted or deleted entry.

    Read from the chain's checkpoint (``manage.py audit_verify`` stores it; run it with
    ``--full`` now and then): the check reads only what was appended since, so it stays quick
    with millions of entries. Without a checkpoint it walks the whole chain."""
    from encompass.audit.verification import verify_chain

    report = verify_chain(str(organization.pk), since_checkpoint=True)
    since = f" since checkpoint #{report.started_after}" if report.started_after else ""
    measured = {"verified_after": report.started_after, "last_sequence": report.last_sequence}
    if report.ok:
        return CheckOutcome(
            passed=True,
            summary=f"All {report.entries} audit entries{since} verify.",
            checked=report.entries,
            measured=measured,
        )
    count = len(report.problems) + report.more_problems
    return CheckOutcome(
        passed=False,
        summary=f"{count} problem(s) in {report.entries} audit entries{since}.",
        failing=[{"problem": p} for p in report.problems],
        checked=report.entries,
        measured=measured,
    )


@register(
    "mfa-privileged",
    "Privileged members sign in with a second factor",
    maps={
        "nist-csf": ["PR.AA-03"],
        "iec-62443-4-2": ["CR 1.1 RE(2)"],
        "iso-27001-annex-a": ["A.8.5", "A.8.2"],
    },
    device_scoped=False,
    remedy="Ask the listed members to set up their authenticator at their next sign-in.",
)
def mfa_privileged(organization, *, now):
    """Members holding a role that requires a second factor have a confirmed authenticator."""
    from django.contrib.auth import get_user_model

    from encompass.tenancy.models import (
        OrganizationUserObjectPermission,
        SiteUserObjectPermission,
    )

    roles = list(settings.ENCOMPASS["MFA_REQUIRED_ROLES"])
    codenames = [permission_codename(r) for r in roles]
    user_ids = set(
        OrganizationUserObjectPermission.objects.filter(
            content_object=organization, permission__codename__in=codenames
        ).values_list("user_id", flat=True)
    ) | set(
        SiteUserObjectPermission.objects.filter(
            content_object__organization=organization, permission__codename__in=codenames
        ).values_list("user_id", flat=True)
    )
    users = get_user_model().objects.filter(pk__in=user_ids, is_active=True)
    with_totp = set(
        TOTPDevice.objects.filter(user__in=users, confirmed=True).values_list("user_id", flat=True)
    )
    failing = [
        {"user": u.pk, "name": u.get_username(), "reason": "no confirmed authenticator"}
        for u in users.order_by("username")
        if u.pk not in with_totp
    ]
    checked = users.count()
    if failing:
        return CheckOutcome(
            passed=False,
            summary=f"{len(failing)} of {checked} privileged members have no second factor.",
            failing=failing,
            checked=checked,
            measured={"roles": roles},
        )
    return CheckOutcome(
        passed=True,
        summary=f"All {checked} privileged members have a second factor.",
        checked=checked,
        measured={"roles": roles},
    )


@register(
    "incident-reviews",
    "Closed incidents have a completed post-incident review",
    maps={
        "etsi-en-303-645": ["5.2-2"],
        "nist-csf": ["ID.IM-03", "ID.IM-04"],
        "iso-27001-annex-a": ["A.5.27"],
    },
    device_scoped=False,
    remedy="Complete the lessons-learned review of the listed incidents.",
)
def incident_reviews(organization, *, now):
    """Every closed incident carries a completed review (what happened, root cause, changes)."""
    try:
        from incidents.choices import Phase
        from incidents.models import Incident
    except ImportError:
        return CheckOutcome.not_applicable("incidents not installed")
    closed = Incident.objects.filter(organization=organization, phase=Phase.CLOSED)
    failing = [
        {"incident": i.pk, "name": str(i), "reason": "closed without a completed review"}
        for i in closed.filter(review__completed_at__isnull=True).order_by("pk")
    ]
    checked = closed.count()
    if failing:
        return CheckOutcome(
            passed=False,
            summary=f"{len(failing)} of {checked} closed incidents lack a completed review.",
            failing=failing,
            checked=checked,
        )
    return CheckOutcome(
        passed=True,
        summary=f"All {checked} closed incidents have a completed review.",
        checked=checked,
    )


@register(
    "risk-treatments-overdue",
    "No risk treatment action is overdue",
    maps={
        "nist-csf": ["ID.RA-06"],
        "iso-27001-annex-a": ["A.5.36"],
    },
    device_scoped=False,
    remedy="Finish the listed mitigations or agree a new due date with their owners.",
)
def risk_treatments_overdue(organization, *, now):
    """Mitigations of the risk register past their due date and not done."""
    try:
        from risk.models import Mitigation
    except ImportError:
        return CheckOutcome.not_applicable("risk register not installed")
    open_items = Mitigation.objects.filter(organization=organization)
    overdue = open_items.overdue(now.date()).select_related("risk", "owner")
    failing = [
        {
            "mitigation": m.pk,
            "name": m.title,
            "reason": f"due {m.due_on}, owner {m.owner.get_username() if m.owner else 'none'}",
        }
        for m in overdue
    ]
    checked = open_items.count()
    if failing:
        return CheckOutcome(
            passed=False,
            summary=f"{len(failing)} risk treatment action(s) are overdue.",
            failing=failing,
            checked=checked,
        )
    return CheckOutcome(
        passed=True, summary=f"None of {checked} treatment actions is overdue.", checked=checked
    )
