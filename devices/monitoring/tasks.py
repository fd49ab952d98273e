"""Monitoring jobs (django-q2), registered in ``MonitoringConfig.ready``; safe to run twice."""

from .health import refresh_health
from .rules import evaluate_scheduled


def monitor_fleet():
    """Every minute: age device health, then evaluate absence / expiry rules and clearances."""
    changes = refresh_health()
    summary = evaluate_scheduled()
    return {"health_changes": changes, **summary}
