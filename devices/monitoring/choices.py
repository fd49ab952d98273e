"""Alert severities and states."""

from django.db import models


class AlertSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {
    AlertSeverity.LOW: 1,
    AlertSeverity.MEDIUM: 2,
    AlertSeverity.HIGH: 3,
    AlertSeverity.CRITICAL: 4,
}
SEVERITY_COLOURS = {
    AlertSeverity.LOW: "#6e7781",
    AlertSeverity.MEDIUM: "#9a6700",
    AlertSeverity.HIGH: "#bc4c00",
    AlertSeverity.CRITICAL: "#cf222e",
}


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class AlertSource(models.TextChoices):
    RULE = "rule", "Alert rule"
    IDENTITY = "identity", "Device identity"
    FIRMWARE = "firmware", "Firmware"
    INCIDENT = "incident", "Incident response"
    PLATFORM = "platform", "Platform"
