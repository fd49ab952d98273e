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


class RuleKind(models.TextChoices):
    THRESHOLD = "threshold", "Threshold on a metric"
    RATE_OF_CHANGE = "rate_of_change", "Rate of change of a metric (per minute)"
    ABSENCE = "absence", "No heartbeat / no events"
    ANOMALY = "anomaly", "Anomaly against the device's own normal"
    SECURITY_COUNT = "security_count", "N security signals within M minutes"
    FIRMWARE_MISMATCH = "firmware_mismatch", "Firmware version is not the expected one"
    CERTIFICATE_EXPIRY = "certificate_expiry", "Device certificate about to expire"


class Comparison(models.TextChoices):
    GT = "gt", ">"
    GTE = "gte", "≥"
    LT = "lt", "<"
    LTE = "lte", "≤"


COMPARE = {
    Comparison.GT: lambda value, limit: value > limit,
    Comparison.GTE: lambda value, limit: value >= limit,
    Comparison.LT: lambda value, limit: value < limit,
    Comparison.LTE: lambda value, limit: value <= limit,
}

# Security signals devices report (``device.security`` events), with their event severity.
SECURITY_SIGNALS = {
    "auth_failure": "warning",
    "tamper": "critical",
    "unexpected_reboot": "warning",
    "port_scan": "error",
    "malware_detected": "critical",
    "config_changed": "notice",
    "debug_port_open": "error",
    "certificate_invalid": "error",
    "firmware_integrity": "critical",
}
