"""Vulnerabilities and the device types / firmware ranges they affect."""

import re
from decimal import Decimal
from functools import lru_cache

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from packaging.version import InvalidVersion, Version

from encompass.exceptions import ValidationError
from encompass.tenancy.models import TenantModel

from ..choices import CvssSeverity, VulnerabilityStatus
from ..cvss import CvssError, base_score, severity_for
from .common import REGISTER_PERMISSIONS

# CVE-YYYY-NNNN+, GHSA-xxxx-xxxx-xxxx, or an organization's own prefix (DEMO-2026-0001, VND-42 ...)
IDENTIFIER_RE = re.compile(
    r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|[A-Z][A-Z0-9]{1,15}(-[A-Za-z0-9]+){1,3})$"
)
IDENTIFIER_HELP = "CVE-YYYY-NNNN, a GHSA id, or your own PREFIX-… identifier (e.g. VND-2026-7)."


@lru_cache(maxsize=8192)
def parse_version(text):
    """A comparable ``Version`` for a firmware string, or ``None`` when it cannot be parsed.

    Cached: exposure compares every range with the fleet's few distinct firmware strings."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


class Vulnerability(TenantModel):
    """A known weakness (a CVE or an internal finding) with its CVSS severity."""

    identifier = models.CharField(max_length=64, help_text=IDENTIFIER_HELP)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    cvss_score = models.DecimalField(
        "CVSS base score",
        max_digits=3,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("10"))],
        null=True,
        blank=True,
        help_text="0.0-10.0; computed from the vector when only the vector is given.",
    )
    cvss_vector = models.CharField(
        "CVSS vector", max_length=200, blank=True, help_text="e.g. CVSS:3.1/AV:N/AC:L/PR:N/UI:N/…"
    )
    severity = models.CharField(
        max_length=10, choices=CvssSeverity.choices, default=CvssSeverity.NONE, editable=False
    )
    published_on = models.DateField(null=True, blank=True)
    references = models.JSONField(default=list, blank=True, help_text="List of URLs.")
    status = models.CharField(
        max_length=20, choices=VulnerabilityStatus.choices, default=VulnerabilityStatus.OPEN
    )
    device_types = models.ManyToManyField(
        "devices.DeviceType", through="AffectedProduct", related_name="+", blank=True
    )

    role_permissions = REGISTER_PERMISSIONS

    class Meta:
        ordering = ["-cvss_score", "identifier", "pk"]
        verbose_name_plural = "vulnerabilities"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "identifier"], name="risk_vulnerability_id_per_org"
            ),
        ]
        indexes = [models.Index(fields=["organization", "status", "severity"])]

    def __str__(self):
        return f"{self.identifier} {self.title}"

    def clean(self):
        from django.core.validators import URLValidator

        errors = {}
        self.identifier = (self.identifier or "").strip()
        if not IDENTIFIER_RE.match(self.identifier):
            errors["identifier"] = (
                f"{self.identifier!r} is not a valid identifier: {IDENTIFIER_HELP}"
            )
        self.cvss_vector = (self.cvss_vector or "").strip()
        if self.cvss_vector:
            try:
                computed = base_score(self.cvss_vector)
            except CvssError as exc:
                errors["cvss_vector"] = str(exc)
            else:
                if self.cvss_score is None:
                    self.cvss_score = computed
                elif Decimal(str(self.cvss_score)) != computed:
                    errors["cvss_score"] = (
                        f"{self.cvss_score} does not match the vector (its base score is "
                        f"{computed})."
                    )
        if self.cvss_score is None and not self.cvss_vector:
            errors.setdefault("cvss_score", "Give a CVSS base score or a CVSS vector.")
        refs = self.references
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            errors["references"] = "Give a list of URLs."
        else:
            validate = URLValidator(schemes=["http", "https"])
            for ref in refs:
                try:
                    validate(ref)
                except ValidationError:
                    errors["references"] = f"{ref!r} is not an http(s) URL."
                    break
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        self.severity = severity_for(self.cvss_score)
        super().save(*args, **kwargs)


class AffectedProduct(TenantModel):
    """A device type a vulnerability affects, for firmware from ``introduced`` up to ``fixed``.

    ``introduced_version`` is inclusive and ``fixed_version`` exclusive; either may be empty
    (every version from the first / no fix yet). Versions compare as PEP 440 versions
    (``packaging.version``), which also reads ``v2.1.0`` and ``2.1.0-rc1``.
    """

    vulnerability = models.ForeignKey(
        Vulnerability, on_delete=models.CASCADE, related_name="affected_products"
    )
    device_type = models.ForeignKey(
        "devices.DeviceType", on_delete=models.CASCADE, related_name="+"
    )
    introduced_version = models.CharField(max_length=64, blank=True)
    fixed_version = models.CharField(max_length=64, blank=True)

    role_permissions = REGISTER_PERMISSIONS

    class Meta:
        ordering = ["vulnerability", "device_type", "introduced_version", "pk"]

    def __str__(self):
        low = self.introduced_version or "any"
        high = f"< {self.fixed_version}" if self.fixed_version else "no fix"
        return f"{self.device_type}: {low} … {high}"

    @property
    def bounded(self):
        return bool(self.introduced_version or self.fixed_version)

    def clean(self):
        errors = {}
        low = high = None
        for field in ("introduced_version", "fixed_version"):
            text = (getattr(self, field) or "").strip()
            setattr(self, field, text)
            if text and parse_version(text) is None:
                errors[field] = f"{text!r} is not a comparable version (e.g. 2.1.0)."
        low, high = parse_version(self.introduced_version), parse_version(self.fixed_version)
        if low is not None and high is not None and not low < high:
            errors["fixed_version"] = "The fixed version must be later than the introduced one."
        if (
            self.device_type_id
            and self.organization_id
            and self.device_type.organization_id != self.organization_id
        ):
            errors["device_type"] = "Must belong to the same organization."
        if errors:
            raise ValidationError(errors)

    def matches(self, firmware_version):
        """``True`` in range, ``False`` out of range, ``None`` when the firmware is unparseable."""
        if not self.bounded:
            return True
        version = parse_version(firmware_version)
        if version is None:
            return None
        low, high = parse_version(self.introduced_version), parse_version(self.fixed_version)
        if low is not None and version < low:
            return False
        return not (high is not None and version >= high)
