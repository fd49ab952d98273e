"""Delegated OCSP responder certificates (RFC 6960 4.2.2.2), one current per CA."""

from django.db import models


class OcspResponder(models.Model):
    """A short-lived id-kp-OCSPSigning certificate issued by ``authority``; key in the key store.

    Never shown to users beyond its certificate (which every OCSP answer carries).
    """

    authority = models.ForeignKey(
        "identity.CertificateAuthority", on_delete=models.CASCADE, related_name="ocsp_responders"
    )
    certificate_pem = models.TextField()
    serial_hex = models.CharField(max_length=64)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField(db_index=True)
    key_label = models.CharField(max_length=200, unique=True)
    key_reference = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-not_after"]

    def __str__(self):
        return f"OCSP responder of {self.authority_id} #{self.serial_hex[:12]}"

    @property
    def organization(self):
        return self.authority.organization

    def certificate(self):
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.certificate_pem.encode())
