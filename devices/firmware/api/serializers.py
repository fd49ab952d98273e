"""Serializers of the firmware REST API."""

from rest_framework import serializers

from devices.models import Device, DeviceType, Tag
from encompass.api.serializers import RestrictedRelationsMixin, TenantSerializer
from encompass.tenancy.models import Site

from ..models import DeviceUpdate, FirmwareRelease, Rollout, SigningKey
from ..services.planning import SETTINGS_FIELDS


class SigningKeySerializer(TenantSerializer):
    platform_held = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="Generate a key held by the platform instead of registering a vendor key.",
    )
    public_key = serializers.CharField(required=False, allow_blank=True)

    class Meta:
        model = SigningKey
        fields = [
            "id",
            "organization",
            "name",
            "description",
            "custody",
            "public_key",
            "fingerprint",
            "status",
            "revoked_at",
            "revoked_reason",
            "created_at",
            "platform_held",
        ]
        read_only_fields = ["custody", "fingerprint", "status", "revoked_at", "revoked_reason"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is None and not attrs.get("platform_held") and not attrs.get("public_key"):
            raise serializers.ValidationError(
                {"public_key": "Give the vendor's Ed25519 public key, or set platform_held."}
            )
        if self.instance is not None and "public_key" in attrs:
            raise serializers.ValidationError(
                {"public_key": "A key cannot change; register a new one and revoke this."}
            )
        return attrs


class ReleaseSerializer(TenantSerializer):
    device_types = serializers.PrimaryKeyRelatedField(many=True, queryset=DeviceType.objects.all())
    artifact = serializers.FileField(write_only=True)
    signature = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Base64 Ed25519 signature of the release statement (see docs/updates.md).",
    )
    signing_key = serializers.PrimaryKeyRelatedField(
        queryset=SigningKey.objects.all(), required=False, allow_null=True
    )
    sign_with_platform = serializers.BooleanField(write_only=True, required=False, default=False)
    sha256 = serializers.CharField(
        required=False, allow_blank=True, help_text="Optional: refused if the image differs."
    )
    cves_fixed = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list
    )
    metadata = serializers.JSONField(required=False, default=dict)
    sbom = serializers.FileField(
        write_only=True,
        required=False,
        help_text="Optional SBOM (CycloneDX JSON/XML or SPDX 2.3 JSON/tag-value), see "
        "docs/supply-chain.md; a bad one refuses the whole upload.",
    )
    uploaded_by = serializers.StringRelatedField()
    approved_by = serializers.StringRelatedField()

    class Meta:
        model = FirmwareRelease
        fields = [
            "id",
            "organization",
            "device_types",
            "version",
            "security_version",
            "artifact",
            "size",
            "sha256",
            "signature",
            "signing_key",
            "sign_with_platform",
            "release_notes",
            "cves_fixed",
            "metadata",
            "sbom",
            "status",
            "uploaded_by",
            "approved_by",
            "approved_at",
            "approval_note",
            "status_reason",
            "created_at",
        ]
        read_only_fields = ["size", "status", "approved_at", "approval_note", "status_reason"]

    def validate_metadata(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("A JSON object.")
        return value


class ReleaseUpdateSerializer(TenantSerializer):
    """After upload only the notes and the CVE list change (they are not part of the signature)."""

    cves_fixed = serializers.ListField(child=serializers.CharField(max_length=40), required=False)

    class Meta:
        model = FirmwareRelease
        fields = ["id", "organization", "release_notes", "cves_fixed"]


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class RollbackSerializer(RestrictedRelationsMixin, ReasonSerializer):
    release = serializers.PrimaryKeyRelatedField(
        queryset=FirmwareRelease.objects.all(), required=False, allow_null=True
    )


class RolloutSerializer(TenantSerializer):
    sites = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Site.objects.all(), required=False
    )
    tags = serializers.PrimaryKeyRelatedField(many=True, queryset=Tag.objects.all(), required=False)
    devices = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Device.objects.all(), required=False
    )
    release_version = serializers.CharField(source="release.version", read_only=True)
    waves = serializers.JSONField(required=False)

    class Meta:
        model = Rollout
        fields = [
            "id",
            "organization",
            "name",
            "release",
            "release_version",
            "device_type",
            "sites",
            "tags",
            "devices",
            *SETTINGS_FIELDS,  # the settings rollout planning validates, in the same order
            "status",
            "status_reason",
            "rollback_of",
            "started_at",
            "finished_at",
            "created_at",
        ]
        read_only_fields = ["status", "status_reason", "rollback_of", "started_at", "finished_at"]
        extra_kwargs = {"name": {"required": False}}


class RolloutUpdateSerializer(RolloutSerializer):
    class Meta(RolloutSerializer.Meta):
        read_only_fields = [*RolloutSerializer.Meta.read_only_fields, "release", "device_type"]


class DeviceUpdateSerializer(serializers.ModelSerializer):
    device_uid = serializers.CharField(source="device.uid", read_only=True)
    device_name = serializers.CharField(source="device.name", read_only=True)
    wave = serializers.IntegerField(source="wave.number", read_only=True)
    version = serializers.CharField(source="release.version", read_only=True)

    class Meta:
        model = DeviceUpdate
        fields = [
            "id",
            "organization",
            "rollout",
            "wave",
            "device",
            "device_uid",
            "device_name",
            "release",
            "version",
            "from_version",
            "status",
            "not_before",
            "offered_at",
            "reported_at",
            "rebooted_at",
            "reported_success_at",
            "health_deadline",
            "healthy_at",
            "finished_at",
            "failure_reason",
        ]
        read_only_fields = fields


class StatusReportSerializer(serializers.Serializer):
    update_id = serializers.IntegerField()
    status = serializers.CharField(max_length=20)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class WaveProgressSerializer(serializers.Serializer):
    """One wave of ``rollouts/{id}/progress/`` (``services.progress.progress``)."""

    number = serializers.IntegerField()
    status = serializers.CharField()
    planned = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    success_percent = serializers.FloatField()
    failure_percent = serializers.FloatField()
    accepted_failures = serializers.IntegerField()
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    rolled_back = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())


class RolloutProgressSerializer(serializers.Serializer):
    rollout = serializers.IntegerField()
    status = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    waves = WaveProgressSerializer(many=True)
