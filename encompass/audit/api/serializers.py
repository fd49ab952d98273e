from rest_framework import serializers

from encompass.audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "organization",
            "sequence",
            "created_at",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
            "ip",
            "user_agent",
            "request_id",
            "channel",
            "api_key_id",
            "prev_hash",
            "entry_hash",
        ]
        read_only_fields = fields
