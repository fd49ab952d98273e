"""Serializer bases for the API.

* ``RestrictedSerializer`` / ``TenantSerializer``: every related field whose model has
  ``restrict()`` only accepts rows the caller can see -- the declared ones and those
  ``ModelSerializer`` builds from the model (whose queryset is the model's manager). Another
  organization's site, device or release therefore "does not exist", in exactly the words a
  missing id gets (docs/roles.md): the answer tells nothing about other tenants.
* ``organization`` defaults to the caller's only organization; with several it must be given.
  ``null`` means the same as leaving it out.
* All tenant references in one payload must share the row's organization (a caller who can
  see several organizations can otherwise mix them).
"""

from django.db import models
from rest_framework import serializers

from encompass.tenancy.models import Organization


def restricted_queryset(queryset, user):
    """``queryset`` narrowed to what ``user`` may view, if its model knows how; else None."""
    if isinstance(queryset, models.Manager):
        queryset = queryset.all()
    if queryset is None or not hasattr(queryset, "restrict"):
        return None
    return queryset.restrict(user, "view")


class RestrictedRelationsMixin:
    """Narrows the queryset of every writable related field with ``restrict(user, 'view')``."""

    def _user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def get_fields(self):
        fields = super().get_fields()
        user = self._user()
        for field in fields.values():
            target = getattr(field, "child_relation", field)
            if getattr(target, "read_only", False):
                continue
            narrowed = restricted_queryset(getattr(target, "queryset", None), user)
            if narrowed is not None:
                target.queryset = narrowed
        return fields


class RestrictedSerializer(RestrictedRelationsMixin, serializers.Serializer):
    """A plain serializer (an action's input) whose related fields see what the caller sees."""


class TenantSerializer(RestrictedRelationsMixin, serializers.ModelSerializer):
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False
    )

    def _organization(self, attrs):
        """The organization ``attrs`` belong to: given, the instance's, or the only one the
        caller reaches (an API key's); fills it into ``attrs``."""
        if "organization" in attrs and attrs["organization"] is None:
            del attrs["organization"]  # null: as if not given
        org = attrs.get("organization") or getattr(self.instance, "organization", None)
        if org is None:
            reachable = list(Organization.objects.restrict(self._user(), "view")[:2])
            if len(reachable) != 1:
                raise serializers.ValidationError(
                    {"organization": "Say which organization this belongs to."}
                )
            org = reachable[0]
            attrs["organization"] = org
        return org

    def run_validators(self, value):
        # Before the model's unique-together validators, which would otherwise answer "This
        # field is required." for the organization the schema documents as optional.
        if isinstance(value, dict) and self.instance is None:
            self._organization(value)
        super().run_validators(value)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        org = self._organization(attrs)
        if (
            self.instance is not None
            and "organization" in attrs
            and attrs["organization"].pk != self.instance.organization_id
        ):
            raise serializers.ValidationError(
                {"organization": "A record cannot move to another organization."}
            )
        for name, value in attrs.items():
            values = value if isinstance(value, list | tuple) else [value]
            for item in values:
                if isinstance(item, models.Model) and not isinstance(item, Organization):
                    item_org = getattr(item, "organization_id", None)
                    if item_org is not None and item_org != org.pk:
                        raise serializers.ValidationError(
                            {name: "Must belong to the same organization."}
                        )
        return attrs
