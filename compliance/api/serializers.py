"""REST serializers of the compliance app: reads are plain; writes are validated here and
performed by the services."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from devices.models import DeviceType
from encompass.api.serializers import TenantSerializer
from encompass.tenancy.models import Site

from ..choices import Result
from ..models import (
    Assessment,
    CheckFinding,
    CheckRun,
    Evidence,
    Framework,
    Requirement,
    RequirementMapping,
    RequirementResult,
    ScoreSnapshot,
)


class FrameworkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Framework
        fields = [
            "id",
            "code",
            "name",
            "version",
            "data_revision",
            "publisher",
            "url",
            "description",
            "notes",
            "verified_on",
            "verification",
            "loaded_at",
        ]


class RequirementSerializer(serializers.ModelSerializer):
    framework = serializers.SlugRelatedField(slug_field="code", read_only=True)
    parent = serializers.SlugRelatedField(slug_field="ref", read_only=True)
    withdrawn = serializers.BooleanField(read_only=True)

    class Meta:
        model = Requirement
        fields = [
            "id",
            "framework",
            "ref",
            "title",
            "parent",
            "assessable",
            "order",
            "obligation",
            "conditional",
            "condition",
            "guidance",
            "security_level",
            "withdrawn",
        ]


class MappingEndSerializer(serializers.ModelSerializer):
    framework = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Requirement
        fields = ["id", "framework", "ref", "title"]


class MappingSerializer(serializers.ModelSerializer):
    source = MappingEndSerializer(read_only=True)
    target = MappingEndSerializer(read_only=True)

    class Meta:
        model = RequirementMapping
        fields = ["id", "source", "target", "relation", "note"]


class AssessmentSerializer(TenantSerializer):
    framework = serializers.PrimaryKeyRelatedField(queryset=Framework.objects.all())
    sites = serializers.PrimaryKeyRelatedField(
        queryset=Site.objects.all(), many=True, required=False
    )
    device_types = serializers.PrimaryKeyRelatedField(
        queryset=DeviceType.objects.all(), many=True, required=False
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    # Which edition of the catalogue the score is computed against, and when it was verified.
    framework_version = serializers.CharField(source="framework.version", read_only=True)
    framework_verified_on = serializers.DateField(source="framework.verified_on", read_only=True)

    class Meta:
        model = Assessment
        fields = [
            "id",
            "organization",
            "framework",
            "framework_version",
            "framework_verified_on",
            "name",
            "description",
            "status",
            "owner",
            "sites",
            "device_types",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "started_at", "completed_at", "created_at", "updated_at"]

    def validate_owner(self, owner):
        org = self.initial_data.get("organization") or getattr(
            self.instance, "organization_id", None
        )
        if owner is not None and not owner.memberships.filter(organization_id=org).exists():
            raise serializers.ValidationError("The owner must be a member of the organization.")
        return owner

    def validate(self, attrs):
        attrs = super().validate(attrs)
        changed = "framework" in attrs and self.instance is not None
        if changed and attrs["framework"].pk != self.instance.framework_id:
            raise serializers.ValidationError(
                {"framework": "An assessment keeps its framework; start a new one."}
            )
        return attrs


class StatusSerializer(serializers.Serializer):
    status = serializers.CharField()


class ResultSerializer(serializers.ModelSerializer):
    requirement = MappingEndSerializer(read_only=True)
    obligation = serializers.CharField(source="requirement.obligation", read_only=True)
    result = serializers.ChoiceField(choices=Result.choices)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = RequirementResult
        fields = [
            "id",
            "assessment",
            "requirement",
            "obligation",
            "result",
            "source",
            "suggested_result",
            "justification",
            "notes",
            "owner",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = [
            "assessment",
            "source",
            "suggested_result",
            "updated_by",
            "updated_at",
        ]


class EvidenceSerializer(TenantSerializer):
    requirements = serializers.PrimaryKeyRelatedField(
        queryset=Requirement.objects.filter(assessable=True), many=True, required=False
    )
    assessment = serializers.PrimaryKeyRelatedField(
        queryset=Assessment.objects.all(), required=False, allow_null=True
    )
    file = serializers.FileField(required=False, write_only=True)
    download_url = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()

    class Meta:
        model = Evidence
        fields = [
            "id",
            "organization",
            "kind",
            "title",
            "description",
            "requirements",
            "assessment",
            "file",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "url",
            "check_code",
            "check_run",
            "collected_at",
            "valid_until",
            "current",
            "download_url",
            "added_by",
            "created_at",
        ]
        read_only_fields = [
            "kind",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "check_code",
            "check_run",
            "collected_at",
            "added_by",
            "created_at",
        ]

    def get_download_url(self, obj) -> str | None:
        if not obj.file:
            return None
        request = self.context.get("request")
        from django.urls import reverse

        url = reverse("compliance-evidence-download", args=[obj.pk])
        return request.build_absolute_uri(url) if request else url

    def get_current(self, obj) -> bool:
        return obj.is_current()


class CheckRunSerializer(serializers.ModelSerializer):
    failing_truncated = serializers.BooleanField(read_only=True)

    class Meta:
        model = CheckRun
        fields = [
            "id",
            "organization",
            "check_code",
            "passed",
            "applicable",
            "summary",
            "failing_count",
            "checked_count",
            "failing",
            "failing_truncated",
            "scope_counts",
            "findings_kept",
            "measured",
            "ran_at",
            "ran_by",
            "duration_ms",
        ]


class CheckFindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckFinding
        fields = ["id", "kind", "object_id", "uid", "label", "site", "device_type", "reason"]


class RunChecksSerializer(serializers.Serializer):
    organization = serializers.IntegerField(required=False)
    checks = serializers.ListField(child=serializers.CharField(), required=False)


class ScoreSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoreSnapshot
        fields = [
            "id",
            "assessment",
            "site",
            "taken_at",
            "reason",
            "score",
            "mandatory_score",
            "compliant",
            "partially_compliant",
            "non_compliant",
            "not_assessed",
            "not_applicable",
            "stale",
        ]
