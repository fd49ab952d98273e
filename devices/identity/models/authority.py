"""Certificate authorities: one issuing CA per organization at a time, older ones kept to verify."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES, SECURITY

from ..choices import AuthorityKind, AuthoritySource, KeyAlgorithm


class CertificateAuthority(TenantModel):
    """A CA certificate and a reference to its private key in the key store (never the key)."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=AuthorityKind.choices, editable=False)
    source = models.CharField(max_length=16, choices=AuthoritySource.choices, editable=False)
    key_algorithm = models.CharField(max_length=16, choices=KeyAlgorithm.choices, editable=False)
    certificate_pem = models.TextField(editable=False)
    chain_pem = models.TextField(
        blank=True,
        editable=False,
        help_text="For an imported intermediate: the certificates above it, up to its root.",
    )
    subject = models.CharField(max_length=500, editable=False)
    serial_hex = models.CharField(max_length=64, editable=False)
    fingerprint_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    not_before = models.DateTimeField(editable=False)
    not_after = models.DateTimeField(editable=False)
    is_active = models.BooleanField(
        default=True, editable=False, help_text="The CA new device certificates are issued by."
    )
    key_label = models.CharField(max_length=200, unique=True, editable=False)
    key_reference = models.CharField(max_length=300, editable=False)
    crl_number = models.PositiveBigIntegerField(default=0, editable=False)
    crl_der = models.BinaryField(null=True, blank=True, editable=False)
    crl_this_update = models.DateTimeField(null=True, blank=True, editable=False)
    crl_next_update = models.DateTimeField(null=True, blank=True, editable=False)
    compromised_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the CA's key was declared compromised: nothing it signed is trusted since.",
    )
    compromise_note = models.CharField(max_length=300, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    role_permissions = {
        "view": ALL_ROLES,
        "add": SECURITY,
        "change": SECURITY,
        "delete": frozenset(),  # certificates depend on it; retire it instead
        "regenerate_crl": SECURITY,
        "declare_compromised": SECURITY,
    }
    audit_exclude = ("key_reference", "crl_der", "certificate_pem", "chain_pem")

    class Meta:
        verbose_name = "certificate authority"
        verbose_name_plural = "certificate authorities"
        ordering = ["organization__name", "-is_active", "-not_after"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_active=True),
                name="one_issuing_ca_per_org",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_compromised(self):
        return self.compromised_at is not None

    @property
    def is_expired(self):
        return self.not_after <= timezone.now()

    @property
    def days_left(self):
        return (self.not_after - timezone.now()).days

    def certificate(self):
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.certificate_pem.encode())

    def chain(self):
        """PEM certificates from this CA up to (and including) its root."""
        from cryptography import x509

        extra = x509.load_pem_x509_certificates(self.chain_pem.encode()) if self.chain_pem else []
        return [self.certificate(), *extra]

    def crl_pem(self):
        if not self.crl_der:
            return ""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        crl = x509.load_der_x509_crl(bytes(self.crl_der))
        return crl.public_bytes(Encoding.PEM).decode()
