from django.contrib.auth import get_user_model
from rest_framework import serializers

from encompass.api.serializers import RestrictedRelationsMixin, TenantSerializer

from ..choices import Phase
from ..models import (
    ContainmentAction,
    EscalationRule,
    Incident,
    IncidentAction,
    IncidentTask,
    Playbook,
    PlaybookTask,
    PostIncidentReview,
    SlaBreach,
    SlaPolicy,
    TimelineEntry,
)

User = get_user_model()


class TimelineEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = TimelineEntry
        fields = ["id", "kind", "at", "actor_label", "text", "data", "corrects"]


class ContainmentActionSerializer(serializers.ModelSerializer):
    reversible = serializers.BooleanField(read_only=True)

    class Meta:
        model = ContainmentAction
        fields = [
            "id",
            "incident",
            "kind",
            "device",
            "api_key",
            "target_repr",
            "details",
            "reason",
            "performed_by",
            "performed_at",
            "reversed_by",
            "reversed_at",
            "reverse_reason",
            "reversible",
        ]
        read_only_fields = fields


class ReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = PostIncidentReview
        fields = [
            "what_happened",
            "root_cause",
            "what_worked",
            "what_to_change",
            "completed_at",
            "completed_by",
        ]
        read_only_fields = ["completed_at", "completed_by"]


class IncidentSerializer(TenantSerializer):
    reference = serializers.CharField(read_only=True)
    csf_categories = serializers.ListField(child=serializers.CharField(), read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)
    responders = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "organization",
            "reference",
            "number",
            "title",
            "description",
            "severity",
            "category",
            "phase",
            "csf_categories",
            "affected_devices",
            "affected_sites",
            "source_alerts",
            "assignee",
            "responders",
            "playbook",
            "external_reference",
            "detected_at",
            "declared_at",
            "acknowledged_at",
            "contained_at",
            "resolved_at",
            "closed_at",
            "phase_changed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "number",
            "phase",
            "source_alerts",
            "playbook",
            "declared_at",
            "acknowledged_at",
            "contained_at",
            "resolved_at",
            "closed_at",
            "phase_changed_at",
        ]
        extra_kwargs = {"detected_at": {"required": False}}


class IncidentDetailSerializer(IncidentSerializer):
    timeline = TimelineEntrySerializer(many=True, read_only=True)
    containment_actions = ContainmentActionSerializer(many=True, read_only=True)
    review = ReviewSerializer(read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "timeline", "containment_actions", "review"]


class PhaseSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Phase.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField()
    corrects = serializers.IntegerField(required=False, allow_null=True)


class UserRefSerializer(serializers.Serializer):
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), allow_null=True
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()


class ContainSerializer(serializers.Serializer):
    KINDS = ["quarantine", "revoke_certificates", "pause_rollouts", "suspend_api_key"]
    kind = serializers.ChoiceField(choices=KINDS)
    devices = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    api_key = serializers.IntegerField(required=False, allow_null=True)
    reason = serializers.CharField()


class EscalateSerializer(serializers.Serializer):
    alerts = serializers.ListField(child=serializers.IntegerField(), min_length=1)
    incident = serializers.IntegerField(required=False, allow_null=True)
    title = serializers.CharField(required=False, allow_blank=True)
    severity = serializers.ChoiceField(
        choices=Incident._meta.get_field("severity").choices, required=False
    )
    category = serializers.ChoiceField(
        choices=Incident._meta.get_field("category").choices, required=False
    )


class PlaybookRefSerializer(serializers.Serializer):
    playbook = serializers.IntegerField()


class RiskSerializer(serializers.Serializer):
    title = serializers.CharField()
    likelihood = serializers.IntegerField(min_value=1)
    impact = serializers.IntegerField(min_value=1)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class FollowUpSerializer(RestrictedRelationsMixin, serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )

    class Meta:
        model = IncidentAction
        fields = ["id", "incident", "text", "owner", "due_on", "requirement_ref", "done", "done_at"]
        read_only_fields = ["incident", "done", "done_at"]


class IncidentTaskSerializer(RestrictedRelationsMixin, serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    done = serializers.BooleanField(required=False)

    class Meta:
        model = IncidentTask
        fields = [
            "id",
            "organization",
            "incident",
            "phase",
            "order",
            "title",
            "description",
            "owner",
            "owner_role",
            "due_at",
            "done",
            "done_at",
            "done_by",
            "playbook_task",
        ]
        read_only_fields = [
            "organization",
            "order",
            "done_at",
            "done_by",
            "playbook_task",
            "owner_role",
        ]


class PlaybookTaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlaybookTask
        fields = ["id", "phase", "order", "title", "description", "owner_role", "due_after_minutes"]


class PlaybookSerializer(TenantSerializer):
    tasks = PlaybookTaskSerializer(many=True, read_only=True)

    class Meta:
        model = Playbook
        fields = [
            "id",
            "organization",
            "slug",
            "name",
            "category",
            "description",
            "version",
            "shipped",
            "tasks",
        ]
        read_only_fields = ["shipped"]


class SlaPolicySerializer(TenantSerializer):
    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "organization",
            "severity",
            "acknowledge_minutes",
            "contain_minutes",
            "resolve_minutes",
        ]


class SlaBreachSerializer(serializers.ModelSerializer):
    class Meta:
        model = SlaBreach
        fields = ["id", "incident", "metric", "due_at", "detected_at", "alert"]


class EscalationRuleSerializer(TenantSerializer):
    class Meta:
        model = EscalationRule
        fields = [
            "id",
            "organization",
            "name",
            "enabled",
            "min_alert_severity",
            "alert_kind_prefix",
            "category",
            "incident_severity",
            "playbook",
        ]
