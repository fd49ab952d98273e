"""Filters of the register, shared by the REST API and the web UI."""

import django_filters
from django.db.models import Q
from django.utils import timezone

from ..choices import EFFECTIVE_STATUS_CHOICES, MitigationStatus, RiskStatus, Treatment
from ..models import Mitigation, Risk, Vulnerability


class RiskFilter(django_filters.FilterSet):
    level = django_filters.CharFilter(method="filter_level", label="Current level")
    inherent_level = django_filters.CharFilter()
    residual_level = django_filters.CharFilter()
    inherent_likelihood = django_filters.NumberFilter()
    inherent_impact = django_filters.NumberFilter()
    residual_likelihood = django_filters.NumberFilter()
    residual_impact = django_filters.NumberFilter()
    treatment = django_filters.ChoiceFilter(choices=Treatment.choices)
    status = django_filters.ChoiceFilter(choices=EFFECTIVE_STATUS_CHOICES, method="filter_status")
    owner = django_filters.NumberFilter(field_name="owner_id")
    overdue = django_filters.BooleanFilter(
        method="filter_overdue", label="Review or action overdue"
    )
    assessed = django_filters.BooleanFilter(
        field_name="residual_likelihood",
        lookup_expr="isnull",
        exclude=True,
        label="Residual assessed",
    )
    active = django_filters.BooleanFilter(method="filter_active", label="Not closed")
    asset = django_filters.NumberFilter(field_name="assets")
    vulnerability = django_filters.NumberFilter(field_name="vulnerabilities")

    class Meta:
        model = Risk
        fields = ["organization", "matrix"]

    def filter_level(self, qs, name, value):
        return qs.filter(Q(residual_level=value) | Q(residual_level="", inherent_level=value))

    def filter_active(self, qs, name, value):
        closed = Q(status=RiskStatus.CLOSED)
        return qs.exclude(closed) if value else qs.filter(closed)

    def filter_status(self, qs, name, value):
        return qs.with_effective_status(value)

    def filter_overdue(self, qs, name, value):
        today = timezone.localdate()
        overdue = Q(pk__in=Risk.objects.review_overdue(today).values("pk")) | Q(
            pk__in=Mitigation.objects.overdue(today).values("risk_id")
        )
        return qs.filter(overdue) if value else qs.exclude(overdue)


class VulnerabilityFilter(django_filters.FilterSet):
    device_type = django_filters.NumberFilter(
        field_name="affected_products__device_type", distinct=True
    )

    class Meta:
        model = Vulnerability
        fields = ["organization", "status", "severity", "identifier"]


class MitigationFilter(django_filters.FilterSet):
    overdue = django_filters.BooleanFilter(method="filter_overdue")
    status = django_filters.ChoiceFilter(choices=MitigationStatus.choices)

    class Meta:
        model = Mitigation
        fields = ["organization", "risk", "owner", "status"]

    def filter_overdue(self, qs, name, value):
        overdue = qs.overdue()
        return overdue if value else qs.exclude(pk__in=overdue.values("pk"))


class AffectedDeviceFilter(django_filters.FilterSet):
    """Narrow a vulnerability's affected devices (web page and API alike)."""

    site = django_filters.NumberFilter(field_name="site_id")
    device_type = django_filters.NumberFilter(field_name="device_type_id")
    state = django_filters.CharFilter()
    firmware_version = django_filters.CharFilter()
    unverified = django_filters.BooleanFilter(field_name="firmware_unverified")
    q = django_filters.CharFilter(method="filter_q", label="Name, uid or serial contains")

    def filter_q(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value) | Q(uid__icontains=value) | Q(serial_number__icontains=value)
        )

    @property
    def narrowed(self):
        """Whether any filter was given (the fleet-wide aggregate count no longer applies)."""
        return any(self.form.cleaned_data.get(f) not in (None, "") for f in self.filters)
