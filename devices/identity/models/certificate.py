"""Device certificates: what the platform issued, to which device, and what became of it."""

import datetime

from django.db import models
from django.utils import timezone

from encompass.tenancy.models import RestrictedQuerySet, TenantModel
from encompass.tenancy.roles import ADMIN_ONLY, ALL_ROLES, SECURITY

from ..choices import CertificateStatus, IssuedVia, KeyAlgorithm, RevocationReason


class CertificateQuerySet(RestrictedQuerySet):
    def unrevoked(self):
        return self.filter(revoked_at__isnull=True)

    def valid(self, at=None):
        """Not revoked (a hold counts as revoked) and within validity."""
        at = at or timezone.now()
        return self.unrevoked().filter(not_before__lte=at, not_after__gt=at)


class DeviceCertificate(TenantModel):
    """One X.509 certificate issued to a device (the device keeps the private key)."""

    device = models.ForeignKey(
        "devices.Device", on_delete=models.PROTECT, related_name="certificates"
    )
    authority = models.ForeignKey(
        "identity.CertificateAuthority", on_delete=models.PROTECT, related_name="certificates"
    )
    serial_hex = models.CharField(max_length=64, editable=False)
    fingerprint_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    spki_sha256 = models.CharField(
        max_length=64, db_index=True, editable=False, help_text="SHA-256 of the public key."
    )
    key_algorithm = models.CharField(max_length=16, choices=KeyAlgorithm.choices, editable=False)
    key_size = models.PositiveIntegerField(editable=False)
    subject = models.CharField(max_length=500, editable=False)
    not_before = models.DateTimeField(editable=False)
    not_after = models.DateTimeField(db_index=True, editable=False)
    certificate_pem = models.TextField(editable=False)
    issued_via = models.CharField(max_length=16, choices=IssuedVia.choices, editable=False)
    key_generated_by_platform = models.BooleanField(default=False, editable=False)
    replaces = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
        editable=False,
    )
    revoke_after = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Superseded by a renewal: revoked by the maintenance job at this time.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    revocation_reason = models.CharField(
        max_length=32, choices=RevocationReason.choices, blank=True, editable=False
    )
    revocation_note = models.CharField(max_length=300, blank=True, editable=False)
    revoked_by = models.CharField(max_length=200, blank=True, editable=False)
    last_authenticated_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = models.Manager.from_queryset(CertificateQuerySet)()

    site_lookup = "device__site"
    role_permissions = {
        "view": ALL_ROLES,
        "add": ADMIN_ONLY,  # staff issue only factory bundles; devices enroll themselves
        "change": frozenset(),
        "delete": frozenset(),
        "revoke": SECURITY,
    }
    audit_exclude = ("certificate_pem",)

    class Meta:
        ordering = ["-not_before", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["authority", "serial_hex"], name="certificate_serial_unique_per_ca"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "revoked_at", "not_after"]),
            models.Index(fields=["device", "revoked_at"]),
        ]

    def __str__(self):
        return f"{self.subject} #{self.serial_hex[:12]}"

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def is_valid(self, at=None):
        at = at or timezone.now()
        return not self.is_revoked and self.not_before <= at < self.not_after

    def status_at(self, at=None, renewal_window_days=30):
        at = at or timezone.now()
        if self.revoked_at:
            if self.revocation_reason == RevocationReason.CERTIFICATE_HOLD:
                return CertificateStatus.ON_HOLD
            return CertificateStatus.REVOKED
        if self.not_after <= at:
            return CertificateStatus.EXPIRED
        if self.not_after - at <= datetime.timedelta(days=renewal_window_days):
            return CertificateStatus.EXPIRING
        return CertificateStatus.ACTIVE

    @property
    def status(self):
        """Status with the default renewal window; ``status_at`` takes the policy's."""
        return self.status_at()

    def certificate(self):
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.certificate_pem.encode())
