import django_filters
from django.db.models import Q

from encompass.tenancy.models import Site

from .choices import AlertSeverity, AlertStatus
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


class AlertListFilter(django_filters.FilterSet):
    """The web UI's alert filters: status (open = open or acknowledged), severity, site of the
    current organization, device (its id or part of its name)."""

    STATUS_CHOICES = (("open", "Open or acknowledged"), *AlertStatus.choices, ("all", "All"))

    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", empty_label=None, label="Status"
    )
    severity = django_filters.MultipleChoiceFilter(choices=AlertSeverity.choices)
    site = django_filters.ModelChoiceFilter(queryset=Site.objects.none(), empty_label="Any site")
    device = django_filters.CharFilter(method="filter_device", label="Device")

    class Meta:
        model = Alert
        fields = ["status", "severity", "site", "device"]

    def __init__(self, data=None, *args, organization=None, **kwargs):
        data = data.copy() if data is not None else None
        if data is not None and not data.get("status"):
            data["status"] = "open"
        super().__init__(data, *args, **kwargs)
        user = getattr(self.request, "user", None)
        sites = Site.objects.restrict(user, "view") if user is not None else Site.objects.none()
        if organization is not None:
            sites = sites.filter(organization=organization)
        self.filters["site"].queryset = sites.order_by("name")
        self.form.fields["site"].queryset = sites.order_by("name")
        self.form.fields["severity"].widget.attrs["size"] = len(AlertSeverity.choices)
        self.form.fields["device"].widget.attrs.update(placeholder="device id or name")

    def filter_status(self, queryset, name, value):
        if value in ("", None, "all"):
            return queryset
        if value == "open":
            return queryset.exclude(status=AlertStatus.RESOLVED)
        return queryset.filter(status=value)

    def filter_device(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(device__uid=value) | Q(device__name__icontains=value))
