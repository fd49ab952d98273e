from rest_framework import serializers

from devices.models import Device
from encompass.api.serializers import RestrictedSerializer, TenantSerializer

from ..choices import GENERATABLE, KeyAlgorithm, RevocationReason
from ..models import CertificateAuthority, DeviceCertificate, EnrollmentToken, IdentityPolicy
from ..services import crl_url


class CertificateAuthoritySerializer(TenantSerializer):
    """A CA as the API shows it: the certificate, never the key."""

    key_algorithm = serializers.ChoiceField(
        choices=[(a.value, a.label) for a in GENERATABLE], default=KeyAlgorithm.EC_P256
    )
    validity_days = serializers.IntegerField(
        write_only=True, required=False, default=3650, min_value=30, max_value=10950
    )
    crl_url = serializers.SerializerMethodField()
    ca_url = serializers.SerializerMethodField()

    class Meta:
        model = CertificateAuthority
        fields = [
            "id",
            "organization",
            "name",
            "kind",
            "source",
            "key_algorithm",
            "validity_days",
            "subject",
            "serial_hex",
            "fingerprint_sha256",
            "not_before",
            "not_after",
            "is_active",
            "certificate_pem",
            "chain_pem",
            "crl_number",
            "crl_this_update",
            "crl_next_update",
            "compromised_at",
            "compromise_note",
            "ca_url",
            "crl_url",
            "created_at",
        ]
        read_only_fields = [f for f in fields if f not in {"organization", "name"}]
        extra_kwargs = {"name": {"required": False}}

    def get_crl_url(self, obj) -> str:
        return crl_url(obj.organization)

    def get_ca_url(self, obj) -> str:
        return crl_url(obj.organization).rsplit("/", 1)[0] + "/ca.pem"


class CertificateAuthorityImportSerializer(TenantSerializer):
    certificate_pem = serializers.CharField(help_text="The CA certificate (PEM).")
    private_key_pem = serializers.CharField(
        write_only=True, help_text="Its private key (PEM); stored encrypted, never shown again."
    )
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, default="")
    chain_pem = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="For an intermediate: its issuers."
    )
    activate = serializers.BooleanField(default=True)

    class Meta:
        model = CertificateAuthority
        fields = [
            "organization",
            "name",
            "certificate_pem",
            "private_key_pem",
            "password",
            "chain_pem",
            "activate",
        ]
        extra_kwargs = {"name": {"required": False}}


class DeviceCertificateSerializer(serializers.ModelSerializer):
    device_uid = serializers.CharField(source="device.uid", read_only=True)
    status = serializers.SerializerMethodField()
    replaced_by = serializers.SerializerMethodField()

    class Meta:
        model = DeviceCertificate
        fields = [
            "id",
            "organization",
            "device",
            "device_uid",
            "authority",
            "status",
            "serial_hex",
            "fingerprint_sha256",
            "spki_sha256",
            "key_algorithm",
            "key_size",
            "subject",
            "not_before",
            "not_after",
            "issued_via",
            "key_generated_by_platform",
            "replaces",
            "replaced_by",
            "revoke_after",
            "revoked_at",
            "revocation_reason",
            "revocation_note",
            "revoked_by",
            "last_authenticated_at",
            "certificate_pem",
            "created_at",
        ]
        read_only_fields = fields

    def get_status(self, obj) -> str:
        windows = self.context.get("renewal_windows", {})
        return obj.status_at(renewal_window_days=windows.get(obj.organization_id, 30))

    def get_replaced_by(self, obj) -> int | None:
        successor = getattr(obj, "replaced_by", None)
        return successor.pk if successor else None


class RevokeSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=RevocationReason.choices)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class DeclareCompromiseSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=300, help_text="What happened; recorded in the audit trail and every revocation."
    )


class ReenrollmentTokenSerializer(serializers.Serializer):
    device = serializers.IntegerField()
    device_uid = serializers.CharField()
    token = serializers.CharField(help_text="One-time enrollment token; shown in this answer only.")


class DeclareCompromiseResultSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="Certificates revoked with reason CA compromise.")
    devices = serializers.IntegerField(help_text="Devices that held them.")
    already_on_another_ca = serializers.IntegerField()
    tokens_issued = serializers.IntegerField()
    not_enrollable = serializers.IntegerField(
        help_text="Devices whose lifecycle state does not allow enrollment now."
    )
    issuing_authority = serializers.IntegerField()
    tokens = ReenrollmentTokenSerializer(many=True)
    not_enrollable_devices = serializers.ListField(child=serializers.IntegerField())


class FactoryBundleSerializer(RestrictedSerializer):
    device = serializers.PrimaryKeyRelatedField(queryset=Device.objects.all())
    password = serializers.CharField(
        write_only=True, min_length=12, help_text="Encrypts the PKCS#12; give it to the factory."
    )
    key_algorithm = serializers.ChoiceField(
        choices=[(a.value, a.label) for a in GENERATABLE], default=KeyAlgorithm.EC_P256
    )


class EnrollmentTokenSerializer(TenantSerializer):
    device = serializers.PrimaryKeyRelatedField(queryset=Device.objects.all())
    device_uid = serializers.CharField(source="device.uid", read_only=True)
    status = serializers.CharField(read_only=True)
    ttl_hours = serializers.FloatField(
        write_only=True, required=False, min_value=0.1, max_value=24 * 90
    )
    token = serializers.SerializerMethodField(
        help_text="The token itself; only in the answer to its creation."
    )

    class Meta:
        model = EnrollmentToken
        fields = [
            "id",
            "organization",
            "device",
            "device_uid",
            "prefix",
            "status",
            "expires_at",
            "ttl_hours",
            "used_at",
            "certificate",
            "revoked_at",
            "note",
            "created_at",
            "token",
        ]
        read_only_fields = [
            "organization",
            "prefix",
            "expires_at",
            "used_at",
            "certificate",
            "revoked_at",
            "created_at",
        ]

    def validate(self, attrs):
        device = attrs.get("device")
        if device is not None:
            attrs["organization"] = device.organization
        return super().validate(attrs)

    def get_token(self, obj) -> str | None:
        return self.context.get("plaintext_token")


class IdentityPolicySerializer(TenantSerializer):
    class Meta:
        model = IdentityPolicy
        fields = [
            "id",
            "organization",
            "certificate_validity_days",
            "renewal_window_days",
            "renewal_overlap_days",
            "allowed_key_types",
            "min_rsa_bits",
            "min_ec_bits",
            "max_certificate_age_days",
            "revoke_on_quarantine",
            "quarantine_revocation_reason",
            "crl_validity_hours",
            "enrollment_token_ttl_hours",
            "ca_expiry_warning_days",
            "short_lived_hours",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators = []  # one per organization: the service reports a clear error instead

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if (
            self.instance is None
            and IdentityPolicy.objects.filter(organization=attrs["organization"]).exists()
        ):
            raise serializers.ValidationError(
                {"organization": "This organization already has a policy; update it instead."}
            )
        return attrs


class EnrollSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)
    csr = serializers.CharField(max_length=64 * 1024)


class RenewSerializer(serializers.Serializer):
    csr = serializers.CharField(max_length=64 * 1024)


class IssuedCertificateSerializer(serializers.Serializer):
    device = serializers.CharField()
    certificate = serializers.CharField()
    chain = serializers.ListField(child=serializers.CharField())
    serial = serializers.CharField()
    fingerprint_sha256 = serializers.CharField()
    not_before = serializers.DateTimeField()
    not_after = serializers.DateTimeField()
