"""Every state and category of the risk register, with labels and colours on one screen."""

from django.db import models


class AssetKind(models.TextChoices):
    DEVICE = "device", "Device"
    DEVICE_TYPE = "device_type", "Device type"
    SITE = "site", "Site"
    SERVICE = "service", "Service"
    DATA_STORE = "data_store", "Data store"
    OTHER = "other", "Other"


# Which inventory link each asset kind carries (the others stay empty).
ASSET_KIND_LINK = {
    AssetKind.DEVICE: "device",
    AssetKind.DEVICE_TYPE: "device_type",
    AssetKind.SITE: "site",
    AssetKind.SERVICE: None,
    AssetKind.DATA_STORE: None,
    AssetKind.OTHER: None,
}
ASSET_LINK_FIELDS = ("device", "device_type", "site")


class SecurityObjective(models.TextChoices):
    CONFIDENTIALITY = "confidentiality", "Confidentiality"
    INTEGRITY = "integrity", "Integrity"
    AVAILABILITY = "availability", "Availability"
    SAFETY = "safety", "Safety"


class Stride(models.TextChoices):
    SPOOFING = "spoofing", "Spoofing"
    TAMPERING = "tampering", "Tampering"
    REPUDIATION = "repudiation", "Repudiation"
    INFORMATION_DISCLOSURE = "information_disclosure", "Information disclosure"
    DENIAL_OF_SERVICE = "denial_of_service", "Denial of service"
    ELEVATION_OF_PRIVILEGE = "elevation_of_privilege", "Elevation of privilege"


class CvssSeverity(models.TextChoices):
    """Qualitative severity rating of a CVSS v3.1 base score (CVSS v3.1 specification, 5)."""

    NONE = "none", "None"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_COLOURS = {
    CvssSeverity.NONE: "#6e7781",
    CvssSeverity.LOW: "#1a7f37",
    CvssSeverity.MEDIUM: "#9a6700",
    CvssSeverity.HIGH: "#bc4c00",
    CvssSeverity.CRITICAL: "#cf222e",
}


class VulnerabilityStatus(models.TextChoices):
    OPEN = "open", "Open"
    MITIGATED = "mitigated", "Mitigated"
    NOT_AFFECTED = "not_affected", "Not affected"


class Treatment(models.TextChoices):
    MITIGATE = "mitigate", "Mitigate"
    ACCEPT = "accept", "Accept"
    TRANSFER = "transfer", "Transfer"
    AVOID = "avoid", "Avoid"


class RiskStatus(models.TextChoices):
    """Stored status. "Acceptance expired" is computed from ``acceptance_expires_at``."""

    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted"
    CLOSED = "closed", "Closed"


# The status a person sees: the stored one, or acceptance_expired once an acceptance lapses.
ACCEPTANCE_EXPIRED = "acceptance_expired"
EFFECTIVE_STATUS_CHOICES = [*RiskStatus.choices, (ACCEPTANCE_EXPIRED, "Acceptance expired")]


class MitigationStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


MITIGATION_OPEN = frozenset({MitigationStatus.PLANNED, MitigationStatus.IN_PROGRESS})
# Allowed mitigation status changes: the whole machine on one line each.
MITIGATION_TRANSITIONS = {
    MitigationStatus.PLANNED: {
        MitigationStatus.IN_PROGRESS,
        MitigationStatus.DONE,
        MitigationStatus.CANCELLED,
    },
    MitigationStatus.IN_PROGRESS: {
        MitigationStatus.PLANNED,
        MitigationStatus.DONE,
        MitigationStatus.CANCELLED,
    },
    MitigationStatus.DONE: {MitigationStatus.IN_PROGRESS},  # reopened when it did not hold
    MitigationStatus.CANCELLED: {MitigationStatus.PLANNED},
}

# Alert kinds the register job raises (devices.monitoring Alert.kind).
ALERT_MITIGATION_OVERDUE = "risk.mitigation_overdue"
ALERT_REVIEW_OVERDUE = "risk.review_overdue"
ALERT_ACCEPTANCE_EXPIRED = "risk.acceptance_expired"
ALERT_KINDS = (ALERT_MITIGATION_OVERDUE, ALERT_REVIEW_OVERDUE, ALERT_ACCEPTANCE_EXPIRED)
