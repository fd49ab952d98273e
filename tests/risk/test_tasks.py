import datetime

from django.utils import timezone

from devices.monitoring.models import Alert
from risk import services
from risk.models import Mitigation, Risk
from risk.tasks import check_register

from .conftest import in_days


def open_alerts():
    return {(a.kind, a.severity) for a in Alert.objects.exclude(status="resolved")}


def test_job_raises_each_cause_once_and_resolves_when_fixed(world, officer, make_risk):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    overdue = make_risk(title="Overdue work", likelihood=5, impact=5)  # critical
    mitigation = services.create_mitigation(overdue, actor=officer, title="Patch", due_on=yesterday)
    review = make_risk(title="Stale", likelihood=2, impact=2)
    Risk.objects.filter(pk=review.pk).update(review_due_on=yesterday)
    accepted = make_risk(title="Accepted", likelihood=3, impact=3, treatment="accept")
    services.accept_risk(accepted, actor=officer, justification="ok", expires_at=in_days(5))
    Risk.objects.filter(pk=accepted.pk).update(
        acceptance_expires_at=timezone.now() - datetime.timedelta(hours=1)
    )
    make_risk(world.b, title="B is fine")

    assert check_register() == (3, 0)
    assert open_alerts() == {
        ("risk.mitigation_overdue", "high"),
        ("risk.review_overdue", "low"),
        ("risk.acceptance_expired", "medium"),
    }
    assert all(a.organization_id == world.a.org.pk for a in Alert.objects.all())
    assert check_register() == (0, 0)  # idempotent
    assert Alert.objects.get(kind="risk.mitigation_overdue").count == 1

    services.set_mitigation_status(mitigation, actor=officer, status="done")
    services.mark_reviewed(
        review, actor=officer, next_review_on=timezone.localdate() + datetime.timedelta(days=90)
    )
    services.revoke_acceptance(accepted, actor=officer, reason="expired; re-treat")
    assert check_register() == (0, 3)
    assert not open_alerts()
    assert all(a.auto_resolved for a in Alert.objects.all())
    assert Mitigation.objects.overdue().count() == 0
