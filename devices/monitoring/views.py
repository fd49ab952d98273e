"""The live web UI: fleet dashboard, alerts, and a device's live telemetry."""

import datetime
from collections import defaultdict

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Case, Count, F, IntegerField, Max, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncMinute
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import generic
from django.views.decorators.http import require_POST

from devices.choices import HEALTH_COLOURS, STATE_COLOURS, Health, LifecycleState
from devices.models import Device
from encompass.events.groups import serialize_event
from encompass.events.models import Event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.access import may
from encompass.web.mixins import TenantDetailView
from encompass.web.permits import permits
from encompass.web.tables import FilteredTableView
from encompass.web.tenant import current_organization

from . import services
from .choices import SEVERITY_COLOURS, SEVERITY_RANK, AlertSeverity, AlertStatus
from .filters import AlertListFilter
from .models import Alert, MetricBaseline
from .tables import AlertTable

FEED_SIZE = 50
CHART_POINTS = 300


def fleet_counts(user, organization):
    """Device counts by lifecycle state and by health, within what ``user`` may see."""
    devices = Device.objects.restrict(user, "view").filter(organization=organization)
    by_state = dict(devices.values_list("state").annotate(n=Count("pk")).order_by())
    by_health = dict(devices.values_list("health").annotate(n=Count("pk")).order_by())
    return {
        "states": [
            {
                "value": s.value,
                "label": s.label,
                "colour": STATE_COLOURS[s],
                "count": by_state.get(s, 0),
            }
            for s in LifecycleState
        ],
        "health": [
            {
                "value": h.value,
                "label": h.label,
                "colour": HEALTH_COLOURS[h],
                "count": by_health.get(h, 0),
            }
            for h in Health
        ],
        "total": sum(by_state.values()),
    }


HISTORY_MINUTES = 60
HISTORY_KINDS = 6


def fleet_history(user, organization, now=None, minutes=HISTORY_MINUTES):
    """The dashboard charts' past: events per minute by kind, devices online/late/offline per
    minute (walked back from today's counts through ``device.health_changed`` events), and open
    alerts by severity. One aggregate over the last ``minutes`` of events, whatever the fleet."""
    now = now or timezone.now()
    start = (now - datetime.timedelta(minutes=minutes - 1)).replace(second=0, microsecond=0)
    recent = _visible_events(user, organization).filter(received_at__gte=start)
    # One aggregate over the organization's recent events (its tenant index): per minute and
    # kind, and for health changes also from / to -- a filter on the kind alone would let the
    # planner read every organization's health changes through the kind index.
    per_minute = (
        recent.annotate(
            minute=TruncMinute("received_at"),
            frm=KeyTextTransform("from", "payload"),
            to=KeyTextTransform("to", "payload"),
        )
        .values_list("minute", "kind", "frm", "to")
        .annotate(n=Count("pk"))
        .order_by()
    )
    totals, buckets = defaultdict(int), defaultdict(lambda: defaultdict(int))
    delta = defaultdict(lambda: defaultdict(int))
    for minute, kind, frm, to, n in per_minute:
        totals[kind] += n
        buckets[kind][minute.isoformat()] += n
        if kind == "device.health_changed":
            delta[minute][frm] -= n
            delta[minute][to] += n
    top = sorted(totals, key=lambda k: (-totals[k], k))[:HISTORY_KINDS]
    events = {kind: dict(buckets[kind]) for kind in top}
    other = defaultdict(int)
    for kind, by_minute in buckets.items():
        if kind not in events:
            for minute, n in by_minute.items():
                other[minute] += n
    if other:
        events["other"] = dict(other)

    # Health: today's counts, then undo each minute's changes going back.
    current = {h["value"]: h["count"] for h in fleet_counts(user, organization)["health"]}
    shown = (Health.ONLINE, Health.LATE, Health.OFFLINE)
    health, counts = [], dict(current)
    for i in range(minutes):
        minute = start + datetime.timedelta(minutes=minutes - 1 - i)
        health.append([minute.isoformat(), *(max(0, counts.get(h, 0)) for h in shown)])
        for h, d in delta.get(minute, {}).items():
            counts[h] = counts.get(h, 0) - d  # before this minute's changes
    health.reverse()

    open_alerts = open_alerts_by_severity(user, organization)
    return {
        "start": start.isoformat(),
        "minutes": minutes,
        "events": events,
        "health": {
            "series": [h.value for h in shown],
            "labels": [h.label for h in shown],
            "colours": [HEALTH_COLOURS[h] for h in shown],
            "points": health,
        },
        "alerts": [
            {
                "severity": s.value,
                "label": s.label,
                "count": open_alerts.get(s.value, 0),
                "colour": SEVERITY_COLOURS[s],
            }
            for s in reversed(AlertSeverity)
        ],
    }


def open_alerts_by_severity(user, organization):
    return dict(
        Alert.objects.restrict(user, "view")
        .filter(organization=organization)
        .exclude(status=AlertStatus.RESOLVED)
        .values_list("severity")
        .annotate(n=Count("pk"))
        .order_by()
    )


def _visible_events(user, organization):
    return Event.objects.restrict(user, "view").filter(organization=organization)


class DashboardView(LoginRequiredMixin, generic.TemplateView):
    template_name = "monitoring/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        org = current_organization(self.request)
        context["organization"] = org
        if org is None:
            return context
        events = list(
            _visible_events(user, org).select_related("device").order_by("-id")[:FEED_SIZE]
        )
        alerts = list(
            Alert.objects.restrict(user, "view")
            .filter(organization=org)
            .exclude(status=AlertStatus.RESOLVED)
            .select_related("device")[:25]
        )
        last_id = _visible_events(user, org).aggregate(top=Max("id"))["top"] or 0
        escalated = escalation(user, alerts)
        context.update(
            counts=fleet_counts(user, org),
            events=events,
            alerts=alerts,
            live={
                "organization": org.pk,
                "since": last_id,
                "countsUrl": reverse("monitoring_ui:counts"),
                "deviceUrl": reverse("monitoring_ui:device", args=[0]),
                "events": [serialize_event(e) for e in reversed(events)],
                "alerts": [_alert_json(a, escalated[a.pk]) for a in alerts],
                "escalateUrl": escalate_url(),
                "canEscalate": may(user, Alert, "escalate", org) and escalate_url() is not None,
                "severityColours": {str(k): v for k, v in SEVERITY_COLOURS.items()},
                "history": fleet_history(user, org),
            },
        )
        return context


def escalation(user, alerts):
    """What the alert lists show about incidents: ``{alert pk: {"incident", "can_escalate"}}``.

    ``incident`` is the first incident ``user`` may see that the alert was escalated into
    (``{"reference", "url"}``), ``can_escalate`` whether ``user`` may escalate it. Empty when the
    incidents app is not installed. Two queries, whatever the number of alerts.
    """
    ids = [a.pk for a in alerts]
    info = {pk: {"incident": None, "can_escalate": False} for pk in ids}
    if not ids or not apps.is_installed("incidents"):
        return info
    from incidents.models import Incident

    linked = (
        Incident.objects.restrict(user, "view")
        .filter(source_alerts__in=ids)
        .annotate(alert_pk=F("source_alerts"))
        .only("pk", "number")
        .order_by("pk")
    )
    for incident in linked:
        if info[incident.alert_pk]["incident"] is None:
            url = reverse("incidents_ui:detail", args=[incident.pk])
            info[incident.alert_pk]["incident"] = {"reference": incident.reference, "url": url}
    escalatable = Alert.objects.restrict(user, "escalate").filter(pk__in=ids)
    for pk in escalatable.exclude(status=AlertStatus.RESOLVED).values_list("pk", flat=True):
        info[pk]["can_escalate"] = info[pk]["incident"] is None
    return info


def escalate_url():
    """The incidents app's escalate form target, or None when it is not installed."""
    return reverse("incidents_ui:escalate") if apps.is_installed("incidents") else None


def _alert_json(alert, info=None):
    info = info or {"incident": None, "can_escalate": False}
    return {
        "id": alert.pk,
        "title": alert.title,
        "severity": alert.severity,
        "status": alert.status,
        "count": alert.count,
        "device": alert.device.uid if alert.device_id else None,
        "last_seen_at": alert.last_seen_at.isoformat(),
        "incident": info["incident"],
        "can_escalate": info["can_escalate"],
    }


def counts(request):
    """Fleet counts as JSON: what the dashboard re-reads after a reconnect or a resync."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Sign in."}, status=401)
    org = current_organization(request)
    if org is None:
        raise Http404("No organization.")
    alerts = list(
        Alert.objects.restrict(request.user, "view")
        .filter(organization=org)
        .exclude(status=AlertStatus.RESOLVED)
        .select_related("device")[:25]
    )
    escalated = escalation(request.user, alerts)
    open_alerts = [_alert_json(a, escalated[a.pk]) for a in alerts]
    return JsonResponse(
        {
            **fleet_counts(request.user, org),
            "alerts": open_alerts,
            "alerts_by_severity": open_alerts_by_severity(request.user, org),
        }
    )


class AlertListView(FilteredTableView):
    """Alerts: filter by status, severity, site and device; sort any column; keyset pages;
    acknowledge or resolve many at once (each through its service)."""

    model = Alert
    table_class = AlertTable
    filterset_class = AlertListFilter
    template_name = "monitoring/alerts.html"

    def decorate_queryset(self, qs):
        rank = Case(
            *(When(severity=k, then=Value(v)) for k, v in SEVERITY_RANK.items()),
            default=Value(0),
            output_field=IntegerField(),
        )
        return qs.select_related("device", "site").annotate(severity_rank=rank)

    def filterset_kwargs(self):
        return {"organization": self.organization}

    def prepare_rows(self, rows):
        info = escalation(self.request.user, rows)
        user = self.request.user
        self.bulk_verbs = set()
        for alert in rows:
            alert.escalation = info[alert.pk]
            verbs = {
                verb
                for verb, state_ok in (
                    ("acknowledge", alert.status == AlertStatus.OPEN),
                    ("resolve", alert.status != AlertStatus.RESOLVED),
                )
                if state_ok and permits(user, verb, alert)
            }
            alert.bulk_allowed = bool(verbs)
            self.bulk_verbs |= verbs

    def excluded_columns(self):
        return () if getattr(self, "bulk_verbs", None) else ("select",)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["escalate_url"] = escalate_url()
        context["bulk_verbs"] = sorted(self.bulk_verbs)
        return context


BULK_LIMIT = 500


@require_POST
def alert_bulk(request):
    """Acknowledge or resolve the chosen alerts, each through its service (its own permission
    check, lock, audit entry and event); says how many were done and why the others were not."""
    if not request.user.is_authenticated:
        return redirect("web:login")
    verb = request.POST.get("verb")
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("monitoring_ui:alerts")
    ids = [i for i in request.POST.getlist("ids") if i.isdigit()]
    if verb not in ("acknowledge", "resolve"):
        messages.error(request, "Choose what to do with the selected alerts.")
        return redirect(back)
    if not ids:
        messages.error(request, "Select at least one alert.")
        return redirect(back)
    if len(ids) > BULK_LIMIT:
        messages.error(request, f"At most {BULK_LIMIT} alerts at once.")
        return redirect(back)
    resolution = (request.POST.get("resolution") or "").strip()
    if verb == "resolve" and not resolution:
        messages.error(request, "Say how the selected alerts were resolved.")
        return redirect(back)
    alerts = Alert.objects.restrict(request.user, "view").filter(pk__in=ids).order_by("pk")
    done, refused = 0, []
    for alert in alerts:
        try:
            if verb == "acknowledge":
                services.acknowledge_alert(alert, actor=request.user)
            else:
                services.resolve_alert(alert, actor=request.user, resolution=resolution)
            done += 1
        except (ValidationError, NotPermitted) as exc:
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            refused.append(f"{alert.title}: {text}")
    missing = len(set(ids)) - done - len(refused)
    past = "Acknowledged" if verb == "acknowledge" else "Resolved"
    if done:
        messages.success(request, f"{past} {done} alert{'s' if done != 1 else ''}.")
    for line in refused[:10]:
        messages.error(request, line)
    if len(refused) > 10:
        messages.error(request, f"… and {len(refused) - 10} more refused.")
    if missing > 0:
        messages.error(request, f"{missing} selected alert(s) not found.")
    return redirect(back)


@require_POST
def alert_action(request, pk, verb):
    if not request.user.is_authenticated:
        return redirect("web:login")
    alert = get_object_or_404(Alert.objects.restrict(request.user, "view"), pk=pk)
    try:
        if verb == "acknowledge":
            services.acknowledge_alert(alert, actor=request.user, note=request.POST.get("note", ""))
            messages.success(request, f"Acknowledged: {alert.title}")
        elif verb == "resolve":
            services.resolve_alert(
                alert,
                actor=request.user,
                resolution=request.POST.get("resolution") or "Resolved in the web UI.",
            )
            messages.success(request, f"Resolved: {alert.title}")
        else:
            raise Http404("Unknown action.")
    except (ValidationError, NotPermitted) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, f"{alert.title}: {text}")
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("monitoring_ui:alerts")
    return redirect(back)


class DeviceLiveView(TenantDetailView):
    model = Device
    template_name = "monitoring/device.html"
    context_object_name = "device"

    def get_queryset(self):
        return super().get_queryset().select_related("device_type", "site", "organization")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        device = self.object
        user = self.request.user
        telemetry = list(
            Event.objects.restrict(user, "view")
            .filter(device=device, kind="device.telemetry")
            .order_by("-id")[:CHART_POINTS]
            .values("id", "occurred_at", "received_at", "payload")
        )
        series = defaultdict(list)
        for row in reversed(telemetry):
            at = (row["occurred_at"] or row["received_at"]).isoformat()
            for metric, value in (row["payload"].get("metrics") or {}).items():
                series[metric].append([at, value])
        recent = list(
            Event.objects.restrict(user, "view")
            .filter(device=device)
            .select_related("device")
            .order_by("-id")[:FEED_SIZE]
        )
        last_id = (
            Event.objects.restrict(user, "view")
            .filter(device=device)
            .aggregate(top=Max("id"))["top"]
            or 0
        )
        baselines = MetricBaseline.objects.filter(device=device).order_by("metric")
        context.update(
            events=recent,
            baselines=baselines,
            alerts=Alert.objects.restrict(user, "view")
            .filter(device=device)
            .exclude(status=AlertStatus.RESOLVED),
            live={
                "device": device.pk,
                "since": last_id,
                "series": series,
                "points": CHART_POINTS,
                "events": [serialize_event(e) for e in reversed(recent)],
            },
        )
        return context
