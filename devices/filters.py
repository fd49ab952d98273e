"""Filters over devices, shared by the REST API and the web UI's fleet list."""

import django_filters
from django.db.models import Q
from django.utils import timezone

from encompass.tenancy.models import Site

from .choices import Criticality, DeviceClass, Health, LifecycleState
from .models import Device, DeviceType, Tag


def _sites(request):
    return Site.objects.restrict(getattr(request, "user", None), "view").order_by("name")


def _types(request):
    return DeviceType.objects.restrict(getattr(request, "user", None), "view")


def search_devices(queryset, value):
    """Serial, uid, name or tag (case-insensitive contains; exact for the uid)."""
    value = (value or "").strip()
    if not value:
        return queryset
    matches = Device.objects.filter(
        Q(serial_number__icontains=value)
        | Q(uid=value.lower())
        | Q(name__icontains=value)
        | Q(tags__name__icontains=value)
    ).values("pk")
    return queryset.filter(pk__in=matches)


class DeviceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search")
    state = django_filters.MultipleChoiceFilter(choices=LifecycleState.choices)
    health = django_filters.MultipleChoiceFilter(choices=Health.choices)
    criticality = django_filters.MultipleChoiceFilter(choices=Criticality.choices)
    site = django_filters.ModelChoiceFilter(queryset=_sites)
    device_type = django_filters.ModelChoiceFilter(queryset=_types, label="Type")
    device_class = django_filters.ChoiceFilter(
        field_name="device_type__device_class", choices=DeviceClass.choices, label="Class"
    )
    tag = django_filters.CharFilter(method="filter_tag", label="Tag")
    firmware_version = django_filters.CharFilter(label="Firmware")
    last_seen_after = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    last_seen_before = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="lt")
    never_seen = django_filters.BooleanFilter(
        field_name="last_seen_at", lookup_expr="isnull", label="Never seen"
    )
    support_ended = django_filters.BooleanFilter(method="filter_support_ended")

    class Meta:
        model = Device
        fields = ["organization"]

    def filter_q(self, queryset, name, value):
        return search_devices(queryset, value)

    def filter_tag(self, queryset, name, value):
        names = [v.strip() for v in value.split(",") if v.strip()]
        if not names:
            return queryset
        return queryset.filter(
            pk__in=Tag.devices.through.objects.filter(tag__name__in=names).values("device_id")
        )

    def filter_support_ended(self, queryset, name, value):
        ended = Q(device_type__support_ends_on__lt=timezone.localdate())
        return queryset.filter(ended) if value else queryset.exclude(ended)


class DeviceListFilter(DeviceFilter):
    """The web UI's fleet filters: the API's, less the organization (the switcher chooses it)
    and the date-time bounds, with sites and types of the current organization only."""

    WEB_FIELDS = ("q", "state", "health", "site", "device_type", "tag", "firmware_version")

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.filters):
            if name not in self.WEB_FIELDS:
                del self.filters[name]
        if organization is not None:
            for name in ("site", "device_type"):
                qs = self.filters[name].queryset
                qs = qs(self.request) if callable(qs) else qs
                self.filters[name].queryset = qs.filter(organization=organization)
        self.filters["tag"].label = "Tag"
        self.filters["q"].extra["widget"] = django_filters.widgets.forms.TextInput(
            attrs={"type": "search", "placeholder": "serial, id, name, tag"}
        )


class DeviceTypeFilter(django_filters.FilterSet):
    support_ended = django_filters.BooleanFilter(method="filter_support_ended")

    class Meta:
        model = DeviceType
        fields = [
            "organization",
            "device_class",
            "manufacturer",
            "supports_certificates",
            "supports_ota",
        ]

    def filter_support_ended(self, queryset, name, value):
        ended = Q(support_ends_on__lt=timezone.localdate())
        return queryset.filter(ended) if value else queryset.exclude(ended)
