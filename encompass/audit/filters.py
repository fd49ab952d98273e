import django_filters

from .models import AuditEntry


class AuditEntryFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    action = django_filters.CharFilter(lookup_expr="startswith")
    actor = django_filters.CharFilter(field_name="actor_label")

    class Meta:
        model = AuditEntry
        fields = [
            "organization",
            "action",
            "actor",
            "object_type",
            "object_id",
            "channel",
            "since",
            "until",
        ]
