from rest_framework import serializers

from encompass.api.serializers import TenantSerializer

from ..models import WebhookDelivery, WebhookEndpoint


class WebhookEndpointSerializer(TenantSerializer):
    secret = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "organization",
            "name",
            "url",
            "event_prefixes",
            "active",
            "secret_hint",
            "secret",
            "created_at",
        ]
        read_only_fields = ["secret_hint"]

    def get_secret(self, obj) -> str | None:
        """The signing secret, present only in the answer that created or rotated it."""
        return self.context.get("plaintext_secret")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "kind",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
        ]
        read_only_fields = fields
