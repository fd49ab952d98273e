"""django-q2 jobs of the firmware app."""

from .services.engine import drive_rollouts


def drive():
    """Every minute: start scheduled rollouts, expire deadlines, apply thresholds, advance waves."""
    return drive_rollouts()
