from rest_framework import serializers

from devices.models import DeviceType, Tag
from encompass.api.serializers import TenantSerializer
from encompass.tenancy.models import Site

from ..models import Alert, AlertRule


class AlertRuleSerializer(TenantSerializer):
    device_type = serializers.PrimaryKeyRelatedField(
        queryset=DeviceType.objects.all(), required=False, allow_null=True
    )
    site = serializers.PrimaryKeyRelatedField(
        queryset=Site.objects.all(), required=False, allow_null=True
    )
    tag = serializers.PrimaryKeyRelatedField(
        queryset=Tag.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "organization",
            "name",
            "description",
            "enabled",
            "kind",
            "severity",
            "metric",
            "comparison",
            "threshold",
            "window_minutes",
            "count",
            "signal",
            "sigma",
            "min_samples",
            "expected_firmware",
            "days_before",
            "device_type",
            "site",
            "tag",
            "auto_resolve",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators = []  # the (organization, name) uniqueness is checked by full_clean


class AlertSerializer(serializers.ModelSerializer):
    device_uid = serializers.CharField(source="device.uid", read_only=True, default=None)
    device_name = serializers.CharField(source="device.name", read_only=True, default=None)

    class Meta:
        model = Alert
        fields = [
            "id",
            "organization",
            "site",
            "device",
            "device_uid",
            "device_name",
            "source",
            "kind",
            "severity",
            "title",
            "details",
            "dedupe_key",
            "status",
            "count",
            "first_seen_at",
            "last_seen_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "resolution",
            "auto_resolved",
        ]
        read_only_fields = fields


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ResolutionSerializer(serializers.Serializer):
    resolution = serializers.CharField(max_length=2000)


__all__ = ["AlertRuleSerializer", "AlertSerializer"]
