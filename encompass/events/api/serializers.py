from rest_framework import serializers

from ..models import Event, RetentionPolicy


class EventSerializer(serializers.ModelSerializer):
    device_uid = serializers.CharField(source="device.uid", read_only=True, default=None)

    class Meta:
        model = Event
        fields = [
            "id",
            "organization",
            "site",
            "device",
            "device_uid",
            "kind",
            "source",
            "severity",
            "event_id",
            "occurred_at",
            "received_at",
            "payload",
        ]
        read_only_fields = fields


class RetentionPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = RetentionPolicy
        fields = [
            "id",
            "organization",
            "telemetry_days",
            "log_days",
            "security_days",
            "platform_days",
            "updated_at",
        ]
        read_only_fields = ["id", "organization", "updated_at"]
