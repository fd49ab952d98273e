from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from encompass.api.serializers import RestrictedRelationsMixin, TenantSerializer
from encompass.tenancy.models import Site

from ..choices import (
    STATE_COLOURS,
    ChecklistItem,
    DisposalMethod,
    LifecycleState,
    RetentionDecision,
    WipeMethod,
)
from ..models import DecommissioningChecklist, Device, DeviceType, LifecycleTransition, Tag
from ..services import next_states


class DeviceTypeSerializer(TenantSerializer):
    support_ended = serializers.BooleanField(read_only=True)

    class Meta:
        model = DeviceType
        fields = [
            "id",
            "organization",
            "manufacturer",
            "model",
            "hardware_revision",
            "device_class",
            "heartbeat_interval",
            "support_ends_on",
            "support_ended",
            "supports_certificates",
            "supports_ota",
            "description",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"hardware_revision": {"required": False, "default": ""}}


class TagSerializer(TenantSerializer):
    class Meta:
        model = Tag
        fields = ["id", "organization", "name", "created_at"]
        read_only_fields = ["created_at"]


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "maxLength": 50, "pattern": "^[-a-zA-Z0-9_]+$"}}
)
class TagNamesField(serializers.Field):
    """Tags as a list of names; unknown names are created in the device's organization."""

    default_error_messages = {"invalid": "Give a list of tag names (letters, digits, - and _)."}

    def to_representation(self, manager):
        return [tag.name for tag in manager.all()]

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("invalid")
        child = serializers.SlugField(max_length=50)
        return sorted({child.run_validation(item) for item in data})


class DeviceSerializer(TenantSerializer):
    tags = TagNamesField(required=False)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    state_colour = serializers.SerializerMethodField()
    health_label = serializers.CharField(source="get_health_display", read_only=True)
    allowed_next_states = serializers.SerializerMethodField()
    has_token = serializers.SerializerMethodField()
    support_ended = serializers.BooleanField(source="device_type.support_ended", read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "uid",
            "organization",
            "site",
            "device_type",
            "manufacturer",
            "serial_number",
            "name",
            "tags",
            "state",
            "state_label",
            "state_colour",
            "quarantined_from",
            "state_changed_at",
            "allowed_next_states",
            "firmware_version",
            "firmware_security_version",
            "last_seen_at",
            "health",
            "health_label",
            "network_address",
            "location_notes",
            "owner",
            "commissioned_on",
            "warranty_until",
            "criticality",
            "support_ended",
            "has_token",
            "token_rotated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "uid",
            "manufacturer",
            "state",
            "quarantined_from",
            "state_changed_at",
            "firmware_version",
            "firmware_security_version",
            "last_seen_at",
            "health",
            "token_rotated_at",
            "created_at",
            "updated_at",
        ]

    def get_fields(self):
        fields = super().get_fields()
        # Owners are members of the organizations the caller can see.
        from django.contrib.auth import get_user_model

        user = self._user()
        fields["owner"].queryset = (
            get_user_model().objects.filter(memberships__organization__in=_orgs_of(user)).distinct()
        )
        return fields

    def get_state_colour(self, obj) -> str:
        return STATE_COLOURS[obj.state]

    def get_allowed_next_states(self, obj) -> list[str]:
        return list(next_states(obj))

    def get_has_token(self, obj) -> bool:
        return bool(obj.token_hash)

    def validate(self, attrs):
        if "state" in self.initial_data:
            raise serializers.ValidationError(
                {
                    "state": "The state cannot be set directly; POST "
                    '/api/v1/devices/{id}/transition/ with {"to", "reason"}.'
                }
            )
        attrs = super().validate(attrs)
        owner = attrs.get("owner")
        if (
            owner is not None
            and not owner.memberships.filter(organization=attrs["organization"]).exists()
        ):
            raise serializers.ValidationError({"owner": "Must be a member of the organization."})
        return attrs


def _orgs_of(user):
    from encompass.tenancy.models import Organization

    return Organization.objects.restrict(user, "view")


class TransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=LifecycleState.choices)
    reason = serializers.CharField(max_length=2000)


class LifecycleTransitionSerializer(serializers.ModelSerializer):
    from_label = serializers.CharField(source="get_from_state_display", read_only=True)
    to_label = serializers.CharField(source="get_to_state_display", read_only=True)
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = LifecycleTransition
        fields = [
            "id",
            "from_state",
            "from_label",
            "to_state",
            "to_label",
            "actor",
            "reason",
            "created_at",
        ]
        read_only_fields = fields


class ChecklistSerializer(serializers.ModelSerializer):
    items = serializers.SerializerMethodField()
    ready_for_decommissioned = serializers.BooleanField(read_only=True)
    complete = serializers.BooleanField(read_only=True)

    class Meta:
        model = DecommissioningChecklist
        exclude = [
            "organization",
            "credentials_revoked_by",
            "rollouts_removed_by",
            "data_wipe_recorded_by",
            "retention_decided_by",
            "disposal_recorded_by",
        ]

    def get_items(self, obj):
        return obj.items()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, default="Decommissioning")


class DataWipeSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=WipeMethod.choices)
    attested_by = serializers.CharField(max_length=200)
    wiped_on = serializers.DateField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class RetentionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=RetentionDecision.choices)
    justification = serializers.CharField(max_length=2000)


class DisposalSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=DisposalMethod.choices)
    certificate_reference = serializers.CharField(max_length=200)
    handled_by = serializers.CharField(max_length=200)
    disposed_on = serializers.DateField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


CHECKLIST_ITEM_SERIALIZERS = {
    ChecklistItem.CREDENTIALS: ReasonSerializer,
    ChecklistItem.ROLLOUTS: ReasonSerializer,
    ChecklistItem.DATA_WIPE: DataWipeSerializer,
    ChecklistItem.RETENTION: RetentionSerializer,
    ChecklistItem.DISPOSAL: DisposalSerializer,
}


class DeviceIdsSerializer(serializers.Serializer):
    devices = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )


class BulkTransitionSerializer(DeviceIdsSerializer):
    to = serializers.ChoiceField(choices=LifecycleState.choices)
    reason = serializers.CharField(max_length=2000)


class BulkMoveSerializer(RestrictedRelationsMixin, DeviceIdsSerializer):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
