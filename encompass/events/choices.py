"""Event sources and severities. Event kinds are dotted strings owned by the app that raises them
(``device.telemetry``, ``device.lifecycle``, ``alert.raised``, ``rollout.wave_advanced`` ...)."""

from django.db import models


class EventSource(models.TextChoices):
    DEVICE = "device", "Device"
    PLATFORM = "platform", "Platform"


class Severity(models.TextChoices):
    DEBUG = "debug", "Debug"
    INFO = "info", "Info"
    NOTICE = "notice", "Notice"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"
