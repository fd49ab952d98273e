"""REST serializers of the risk register. Writes go through the services (see views.py)."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devices.models import Device, DeviceType
from encompass.api.serializers import (
    RestrictedRelationsMixin,
    RestrictedSerializer,
    TenantSerializer,
)
from encompass.tenancy.models import Organization

from ..choices import EFFECTIVE_STATUS_CHOICES
from ..models import AffectedProduct, Asset, Mitigation, Risk, RiskMatrix, Threat, Vulnerability
from ..services.common import members_of

User = get_user_model()


def member_users(user):
    """Users who are members of an organization ``user`` can see (owners must be members)."""
    return members_of(Organization.objects.restrict(user, "view"))


class OwnerField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        request = self.context.get("request")
        return member_users(getattr(request, "user", None))


class AssetSerializer(TenantSerializer):
    owner = OwnerField(required=False, allow_null=True)
    risk_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Asset
        fields = [
            "id",
            "organization",
            "kind",
            "device",
            "device_type",
            "site",
            "name",
            "description",
            "criticality",
            "confidentiality",
            "integrity",
            "availability",
            "safety",
            "owner",
            "risk_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class RegisterAssetsSerializer(RestrictedSerializer):
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False
    )
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=["device_type", "site", "device"]),
        required=False,
    )


class ThreatSerializer(TenantSerializer):
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )
    shipped = serializers.BooleanField(read_only=True)

    class Meta:
        model = Threat
        fields = [
            "id",
            "organization",
            "shipped",
            "code",
            "name",
            "description",
            "stride",
            "confidentiality",
            "integrity",
            "availability",
            "safety",
            "catalogue_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["catalogue_version", "created_at", "updated_at"]


class AffectedProductSerializer(RestrictedRelationsMixin, serializers.ModelSerializer):
    device_type = serializers.PrimaryKeyRelatedField(queryset=DeviceType.objects.all())

    class Meta:
        model = AffectedProduct
        fields = ["device_type", "introduced_version", "fixed_version"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        fields["device_type"].queryset = DeviceType.objects.restrict(
            getattr(request, "user", None), "view"
        )
        return fields


class VulnerabilitySerializer(TenantSerializer):
    affected = AffectedProductSerializer(many=True, source="affected_products", required=False)
    affected_device_count = serializers.SerializerMethodField()
    unverified_device_count = serializers.SerializerMethodField()

    class Meta:
        model = Vulnerability
        fields = [
            "id",
            "organization",
            "identifier",
            "title",
            "description",
            "cvss_score",
            "cvss_vector",
            "severity",
            "published_on",
            "references",
            "status",
            "affected",
            "affected_device_count",
            "unverified_device_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["severity", "created_at", "updated_at"]
        # Uniqueness is checked by the model (field-named) inside the service.
        validators = []

    def _exposure(self, obj):
        counts = self.context.get("exposure")
        if counts is None or obj.pk not in counts:
            from ..services import exposure_counts

            counts = exposure_counts([obj])
        return counts[obj.pk]

    @extend_schema_field(serializers.IntegerField())
    def get_affected_device_count(self, obj):
        return self._exposure(obj).affected

    @extend_schema_field(serializers.IntegerField())
    def get_unverified_device_count(self, obj):
        return self._exposure(obj).unverified


class AffectedDeviceSerializer(serializers.ModelSerializer):
    device_type = serializers.StringRelatedField()
    site = serializers.StringRelatedField()
    firmware_unverified = serializers.BooleanField(read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "uid",
            "name",
            "serial_number",
            "device_type",
            "site",
            "state",
            "firmware_version",
            "firmware_unverified",
        ]


class ImportSerializer(RestrictedSerializer):
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False
    )
    file = serializers.FileField()
    ignore_unknown_device_types = serializers.BooleanField(default=False)


class RiskMatrixSerializer(TenantSerializer):
    class Meta:
        model = RiskMatrix
        fields = [
            "id",
            "organization",
            "name",
            "description",
            "definition",
            "is_default",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators = []


class RiskSerializer(TenantSerializer):
    owner = OwnerField(required=False, allow_null=True)
    matrix = serializers.PrimaryKeyRelatedField(queryset=RiskMatrix.objects.all(), required=False)
    effective_status = serializers.ChoiceField(choices=EFFECTIVE_STATUS_CHOICES, read_only=True)
    review_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Risk
        fields = [
            "id",
            "organization",
            "reference",
            "title",
            "scenario",
            "source",
            "matrix",
            "assets",
            "threats",
            "vulnerabilities",
            "inherent_likelihood",
            "inherent_impact",
            "inherent_level",
            "current_controls",
            "residual_likelihood",
            "residual_impact",
            "residual_level",
            "owner",
            "treatment",
            "status",
            "effective_status",
            "review_due_on",
            "review_overdue",
            "last_reviewed_at",
            "accepted_by",
            "accepted_at",
            "acceptance_expires_at",
            "acceptance_justification",
            "closed_at",
            "closure_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "reference",
            "inherent_level",
            "residual_likelihood",
            "residual_impact",
            "residual_level",
            "status",
            "last_reviewed_at",
            "accepted_by",
            "accepted_at",
            "acceptance_expires_at",
            "acceptance_justification",
            "closed_at",
            "closure_reason",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "assets": {"required": False},
            "threats": {"required": False},
            "vulnerabilities": {"required": False},
        }


class AcceptSerializer(serializers.Serializer):
    justification = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()


class ResidualSerializer(serializers.Serializer):
    likelihood = serializers.IntegerField(min_value=1)
    impact = serializers.IntegerField(min_value=1)
    current_controls = serializers.CharField(required=False, allow_blank=True)


class ReviewSerializer(serializers.Serializer):
    next_review_on = serializers.DateField()
    note = serializers.CharField(required=False, allow_blank=True, default="")


class MitigationSerializer(TenantSerializer):
    owner = OwnerField(required=False, allow_null=True)
    risk = serializers.PrimaryKeyRelatedField(queryset=Risk.objects.all())
    devices = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Device.objects.all(), required=False
    )
    overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Mitigation
        fields = [
            "id",
            "organization",
            "risk",
            "title",
            "description",
            "owner",
            "due_on",
            "status",
            "overdue",
            "status_note",
            "done_at",
            "done_by",
            "devices",
            "requirement_refs",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "status_note",
            "done_at",
            "done_by",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs):
        if self.instance is not None and "risk" in attrs and attrs["risk"] != self.instance.risk:
            raise serializers.ValidationError({"risk": "A mitigation cannot move to another risk."})
        if "risk" in attrs and "organization" not in attrs:
            attrs["organization"] = attrs["risk"].organization
        return super().validate(attrs)


class MitigationStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Mitigation._meta.get_field("status").choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")
