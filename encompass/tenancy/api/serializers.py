from django.contrib.auth import get_user_model
from rest_framework import serializers

from encompass.api.serializers import TenantSerializer
from encompass.tenancy.models import ApiKey, Membership, MembershipInvitation, Organization, Site

User = get_user_model()


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "description", "created_at", "updated_at"]
        read_only_fields = ["slug", "created_at", "updated_at"]


class SiteSerializer(TenantSerializer):
    class Meta:
        model = Site
        fields = [
            "id",
            "organization",
            "name",
            "slug",
            "address",
            "time_zone",
            "latitude",
            "longitude",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class MembershipSerializer(TenantSerializer):
    username = serializers.SlugRelatedField(
        source="user", slug_field="username", queryset=User.objects.filter(is_active=True)
    )
    sites = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Site.objects.all(), required=False
    )

    class Meta:
        model = Membership
        fields = ["id", "organization", "username", "role", "sites", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is not None and "user" in attrs and attrs["user"] != self.instance.user:
            raise serializers.ValidationError({"username": "A membership cannot change hands."})
        return attrs


class MembershipInvitationSerializer(TenantSerializer):
    """A role offered to a username. The answer never says whether the username exists."""

    sites = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Site.objects.all(), required=False
    )
    invited_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = MembershipInvitation
        fields = [
            "id",
            "organization",
            "username",
            "role",
            "sites",
            "status",
            "expires_at",
            "invited_by",
            "responded_at",
            "created_at",
        ]
        read_only_fields = ["status", "expires_at", "responded_at", "created_at"]


class ApiKeySerializer(TenantSerializer):
    status = serializers.CharField(read_only=True)
    key = serializers.SerializerMethodField(help_text="The key itself; only in the create answer.")
    days = serializers.IntegerField(write_only=True, required=False, min_value=1)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "organization",
            "name",
            "role",
            "prefix",
            "status",
            "expires_at",
            "days",
            "revoked_at",
            "revoked_reason",
            "suspended",
            "last_used_at",
            "last_used_ip",
            "created_at",
            "key",
        ]
        read_only_fields = [
            "prefix",
            "revoked_at",
            "revoked_reason",
            "suspended",
            "last_used_at",
            "last_used_ip",
            "created_at",
        ]
        extra_kwargs = {"expires_at": {"required": False}}

    def get_key(self, obj) -> str | None:
        return self.context.get("plaintext_key")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
