"""An organization's PKI policy: validity, renewal, accepted keys, quarantine behaviour."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES, SECURITY

from ..choices import QUARANTINE_REASONS, KeyType, RevocationReason


def default_key_types():
    return [KeyType.EC.value, KeyType.RSA.value]


class IdentityPolicy(TenantModel):
    """How one organization's device certificates are issued, renewed and retired."""

    organization = models.OneToOneField(
        "tenancy.Organization", on_delete=models.PROTECT, related_name="identity_policy"
    )
    certificate_validity_days = models.PositiveIntegerField(
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(825)],
        help_text="Lifetime of a device certificate.",
    )
    renewal_window_days = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="Certificates this close to expiry are flagged and alerted on.",
    )
    renewal_overlap_days = models.PositiveIntegerField(
        default=7,
        validators=[MaxValueValidator(90)],
        help_text="After a renewal the old certificate stays valid this long, then is revoked.",
    )
    allowed_key_types = models.JSONField(
        default=default_key_types,
        help_text='Key families a device may enroll with: a list of "ec" and/or "rsa".',
    )
    min_rsa_bits = models.PositiveIntegerField(
        default=3072, validators=[MinValueValidator(2048), MaxValueValidator(8192)]
    )
    min_ec_bits = models.PositiveIntegerField(
        default=256,
        validators=[MinValueValidator(256), MaxValueValidator(384)],
        help_text="256 accepts P-256 and P-384; 384 accepts only P-384.",
    )
    max_certificate_age_days = models.PositiveIntegerField(
        default=397,
        validators=[MinValueValidator(1)],
        help_text="A certificate issued longer ago than this fails the compliance check.",
    )
    revoke_on_quarantine = models.BooleanField(
        default=True, help_text="Revoke a device's certificates when it is quarantined."
    )
    quarantine_revocation_reason = models.CharField(
        max_length=32,
        choices=[(r.value, r.label) for r in QUARANTINE_REASONS],
        default=RevocationReason.CERTIFICATE_HOLD,
        help_text="A hold is lifted when the device is released; key compromise is final.",
    )
    crl_validity_hours = models.PositiveIntegerField(
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text="Next-update of each CRL; it is re-signed well before then.",
    )
    enrollment_token_ttl_hours = models.PositiveIntegerField(
        default=72, validators=[MinValueValidator(1), MaxValueValidator(24 * 90)]
    )
    ca_expiry_warning_days = models.PositiveIntegerField(
        default=180, help_text="Alert when the issuing CA expires within this many days."
    )
    short_lived_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24)],
        help_text="Short-lived certificates: when set (e.g. 24), device certificates last this "
        "many hours instead of certificate_validity_days and devices renew every cycle; only an "
        "expired certificate raises an alert.",
    )

    role_permissions = {
        "view": ALL_ROLES,
        "add": SECURITY,
        "change": SECURITY,
        "delete": frozenset(),
    }

    class Meta:
        verbose_name = "identity policy"
        verbose_name_plural = "identity policies"
        ordering = ["organization__name"]

    def __str__(self):
        return f"Identity policy of {self.organization}"

    def clean(self):
        errors = {}
        types = self.allowed_key_types
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            errors["allowed_key_types"] = 'Give a list such as ["ec", "rsa"].'
        elif not types:
            errors["allowed_key_types"] = "Allow at least one key type."
        elif unknown := set(types) - set(KeyType.values):
            errors["allowed_key_types"] = f"Unknown key types: {', '.join(sorted(unknown))}."
        window, validity = self.renewal_window_days, self.certificate_validity_days
        if window and validity and window >= validity:
            errors["renewal_window_days"] = (
                "The renewal window must be shorter than the certificate validity."
            )
        overlap = self.renewal_overlap_days
        if overlap is not None and window and overlap > window:
            errors["renewal_overlap_days"] = "The overlap cannot be longer than the renewal window."
        if self.min_ec_bits not in (256, 384):
            errors["min_ec_bits"] = "Use 256 (P-256 and P-384) or 384 (P-384 only)."
        if errors:
            raise ValidationError(errors)
