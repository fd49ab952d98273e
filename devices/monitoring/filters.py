import django_filters

from .models import Alert


class AlertFilter(django_filters.FilterSet):
    device_uid = django_filters.CharFilter(field_name="device__uid")
    open = django_filters.BooleanFilter(method="filter_open", label="Open or acknowledged")

    class Meta:
        model = Alert
        fields = ["organization", "site", "device", "status", "severity", "source", "kind"]

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.exclude(status="resolved") if value else queryset.filter(status="resolved")
