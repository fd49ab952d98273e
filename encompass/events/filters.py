import django_filters

from .models import Event


class EventFilter(django_filters.FilterSet):
    """Filter the stream by device (pk or uid), kind (exact or ``kind_prefix``), time and id."""

    device = django_filters.NumberFilter(field_name="device_id")
    device_uid = django_filters.CharFilter(field_name="device__uid")
    kind = django_filters.CharFilter(field_name="kind")
    kind_prefix = django_filters.CharFilter(field_name="kind", lookup_expr="startswith")
    since = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="lt")
    after_id = django_filters.NumberFilter(field_name="id", lookup_expr="gt")

    class Meta:
        model = Event
        fields = ["organization", "site", "device", "kind", "source", "severity"]
