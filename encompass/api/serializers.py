"""Serializer base for tenant models.

* Every related field that points at a restricted model only accepts rows the caller can see:
  another organization's site simply "does not exist".
* ``organization`` defaults to the caller's only organization; with several it must be given.
* All tenant references in one payload must share the row's organization.
"""

from django.db import models
from rest_framework import serializers

from encompass.tenancy.models import Organization, RestrictedQuerySet


class TenantSerializer(serializers.ModelSerializer):
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False
    )

    def _user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def get_fields(self):
        fields = super().get_fields()
        user = self._user()
        for field in fields.values():
            target = getattr(field, "child_relation", field)
            qs = getattr(target, "queryset", None)
            if isinstance(qs, RestrictedQuerySet):
                target.queryset = qs.restrict(user, "view")
        return fields

    def validate(self, attrs):
        attrs = super().validate(attrs)
        org = attrs.get("organization") or getattr(self.instance, "organization", None)
        if org is None:
            reachable = list(Organization.objects.restrict(self._user(), "view")[:2])
            if len(reachable) != 1:
                raise serializers.ValidationError(
                    {"organization": "Say which organization this belongs to."}
                )
            org = reachable[0]
            attrs["organization"] = org
        if (
            self.instance is not None
            and "organization" in attrs
            and (attrs["organization"].pk != self.instance.organization_id)
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
