"""Web UI: the incident board (by phase, live), the incident page, the printable report.

Every read goes through ``restrict()``; every form posts to a view that only parses and calls the
same services as the API. Refusals come back as messages naming what was wrong.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from encompass.tenancy.access import can_create, has_access
from encompass.tenancy.models import ApiKey
from encompass.web.csp import allow_own_inline_styles
from encompass.web.tenant import current_organization

from . import services
from .choices import (
    PHASE_COLOURS,
    PHASE_CSF,
    PHASE_ORDER,
    SEVERITY_COLOURS,
    Category,
    ContainmentKind,
    IncidentSeverity,
    Phase,
    next_phases,
)
from .models import ContainmentAction, Incident, IncidentTask, Playbook
from .services import reports

User = get_user_model()


def _incident(request, pk, action="view"):
    incident = (
        Incident.objects.restrict(request.user, action)
        .select_related("organization", "assignee", "playbook")
        .filter(pk=pk)
        .first()
    )
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _refusal(request, exc):
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            text = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        else:
            text = " ".join(exc.messages)
    else:
        text = str(exc) or "You may not do this."
    messages.error(request, text)


def incident_action(view):
    """POST-only incident action: find the incident (404), run, report refusals, go back."""

    @login_required
    @require_POST
    @wraps(view)
    def wrapper(request, pk, *args, **kwargs):
        incident = _incident(request, pk)
        try:
            done = view(request, incident, *args, **kwargs)
        except (ValidationError, PermissionDenied) as exc:
            _refusal(request, exc)
        else:
            if done:
                messages.success(request, done)
        return redirect("incidents_ui:detail", pk=incident.pk)

    return wrapper


@login_required
def board(request):
    org = current_organization(request)
    qs = Incident.objects.restrict(request.user, "view").select_related("assignee")
    if org is not None:
        qs = qs.filter(organization=org)
    qs = qs.annotate(
        open_tasks=Count("tasks", filter=Q(tasks__done=False), distinct=True),
        device_count=Count("affected_devices", distinct=True),
        breaches=Count("sla_breaches", distinct=True),
    )
    open_incidents = list(qs.exclude(phase=Phase.CLOSED).order_by("-declared_at"))
    closed = list(qs.filter(phase=Phase.CLOSED).order_by("-closed_at")[:8])
    columns = [
        {
            "phase": p,
            "label": Phase(p).label,
            "colour": PHASE_COLOURS[Phase(p)],
            "csf": PHASE_CSF[Phase(p)],
            "incidents": [i for i in open_incidents if i.phase == p],
        }
        for p in PHASE_ORDER
        if p != Phase.CLOSED
    ]
    alerts = []
    can_escalate = False
    if org is not None:
        from devices.monitoring.choices import AlertStatus
        from devices.monitoring.models import Alert

        alerts = list(
            Alert.objects.restrict(request.user, "escalate")
            .filter(organization=org)
            .exclude(status=AlertStatus.RESOLVED)
            .filter(incidents__isnull=True)
            .select_related("device")
            .order_by("-last_seen_at")[:20]
        )
        can_escalate = (
            bool(alerts)
            or Alert.objects.restrict(request.user, "escalate").filter(organization=org).exists()
        )
    template = "incidents/_board.html" if request.GET.get("fragment") else "incidents/board.html"
    return render(
        request,
        template,
        {
            "organization": org,
            "columns": columns,
            "closed": closed,
            "alerts": alerts,
            "can_escalate": can_escalate,
            "can_declare": org is not None and can_create(request.user, Incident, org),
            "severities": IncidentSeverity.choices,
            "categories": Category.choices,
            "severity_colours": SEVERITY_COLOURS,
        },
    )


@login_required
@require_POST
def declare(request):
    org = current_organization(request)
    if org is None:
        raise Http404("No organization.")
    try:
        incident = services.declare_incident(
            organization=org,
            title=request.POST.get("title", ""),
            severity=request.POST.get("severity", ""),
            category=request.POST.get("category") or Category.OTHER,
            description=request.POST.get("description", ""),
            actor=request.user,
        )
    except (ValidationError, PermissionDenied) as exc:
        _refusal(request, exc)
        return redirect("incidents_ui:board")
    messages.success(request, f"Declared {incident.reference}.")
    return redirect("incidents_ui:detail", pk=incident.pk)


@login_required
@require_POST
def escalate(request):
    from devices.monitoring.models import Alert

    ids = [int(x) for x in request.POST.getlist("alerts") if x.isdigit()]
    alerts = list(Alert.objects.restrict(request.user, "view").filter(pk__in=ids))
    if not alerts or len(alerts) != len(set(ids)):
        messages.error(request, "alerts: choose at least one alert.")
        return redirect("incidents_ui:board")
    target = None
    if request.POST.get("incident", "").isdigit():
        target = _incident(request, int(request.POST["incident"]))
    try:
        incident = services.escalate_alerts(
            alerts,
            actor=request.user,
            incident=target,
            title=request.POST.get("title") or None,
            category=request.POST.get("category") or Category.OTHER,
        )
    except (ValidationError, PermissionDenied) as exc:
        _refusal(request, exc)
        return redirect("incidents_ui:board")
    messages.success(request, f"Escalated {len(alerts)} alert(s) into {incident.reference}.")
    return redirect("incidents_ui:detail", pk=incident.pk)


@login_required
def detail(request, pk):
    incident = _incident(request, pk)
    incident = (
        Incident.objects.filter(pk=incident.pk)
        .select_related("organization", "assignee", "playbook")
        .prefetch_related("responders", "affected_devices__site", "affected_sites", "source_alerts")
        .get()
    )
    user = request.user
    can = {
        a: has_access(user, incident, a)
        for a in ("phase", "contain", "assign", "respond", "review", "change", "export")
    }
    tasks = list(incident.tasks.select_related("owner", "done_by").order_by("order", "pk"))
    phases = []
    for p in PHASE_ORDER:
        phases.append(
            {
                "phase": p,
                "label": Phase(p).label,
                "csf": PHASE_CSF[Phase(p)],
                "tasks": [t for t in tasks if t.phase == p],
                "current": p == incident.phase,
                "done": PHASE_ORDER.index(p) < PHASE_ORDER.index(incident.phase),
            }
        )
    context = {
        "incident": incident,
        "can": can,
        "timeline": list(incident.timeline.select_related("corrects").order_by("at", "pk")),
        "actions": list(incident.containment_actions.select_related("performed_by")),
        "phases": phases,
        "moves": [
            {
                "target": t.target,
                "label": Phase(t.target).label,
                "backward": t.backward,
                "description": t.description,
                "problems": services.phase_problems(incident, t.target, "x" if t.backward else ""),
            }
            for t in next_phases(incident.phase)
        ],
        "sla": services.sla_status(incident),
        "review": getattr(incident, "review", None),
        "follow_ups": list(incident.follow_up_actions.select_related("owner")),
        "risks": list(incident.created_risks.all()),
        "playbooks": list(
            Playbook.objects.restrict(user, "view").filter(organization=incident.organization)
        )
        if can["change"]
        else [],
        "members": list(
            User.objects.filter(memberships__organization=incident.organization, is_active=True)
            .order_by("username")
            .distinct()
        )
        if can["assign"]
        else [],
        "api_keys": list(
            ApiKey.objects.restrict(user, "suspend").filter(
                organization=incident.organization, revoked_at__isnull=True, suspended=False
            )
        )
        if can["contain"]
        else [],
        "devices": list(incident.affected_devices.all()),
        "containment_kinds": ContainmentKind.choices,
        "severity_colours": SEVERITY_COLOURS,
        "phase_colour": PHASE_COLOURS[Phase(incident.phase)],
        "review_fields": [
            ("what_happened", "What happened"),
            ("root_cause", "Root cause"),
            ("what_worked", "What worked"),
            ("what_to_change", "What to change"),
        ],
    }
    if request.GET.get("fragment"):
        return render(request, "incidents/_timeline.html", context)
    return render(request, "incidents/detail.html", context)


@incident_action
def change_phase(request, incident):
    to = request.POST.get("to", "")
    services.change_phase(incident, to, actor=request.user, note=request.POST.get("note", ""))
    return f"{incident.reference} is now in {Phase(to).label.lower()}."


@incident_action
def record_containment(request, incident):
    services.record_containment(incident, actor=request.user, note=request.POST.get("note", ""))
    return "Containment recorded."


@incident_action
def add_note(request, incident):
    corrects = request.POST.get("corrects") or None
    services.add_note(
        incident,
        request.POST.get("text", ""),
        actor=request.user,
        corrects=int(corrects) if corrects and corrects.isdigit() else None,
    )
    return "Note added."


def _member(request, incident, field="user"):
    value = request.POST.get(field, "")
    if not value:
        return None
    user = User.objects.filter(username=value, is_active=True).first()
    if user is None:
        raise ValidationError({field: f"No active user {value!r}."})
    return user


@incident_action
def assign(request, incident):
    user = _member(request, incident)
    services.assign_incident(incident, user, actor=request.user)
    return f"Assigned to {user.get_username()}." if user else "Unassigned."


@incident_action
def add_responder(request, incident):
    user = _member(request, incident)
    if user is None:
        raise ValidationError({"user": "Choose a user."})
    services.add_responder(incident, user, actor=request.user)
    return f"{user.get_username()} is now a responder."


@incident_action
def contain(request, incident):
    from devices.models import Device

    kind = request.POST.get("kind", "")
    reason = request.POST.get("reason", "")
    if kind == ContainmentKind.SUSPEND_API_KEY:
        key = (
            ApiKey.objects.restrict(request.user, "view")
            .filter(pk=request.POST.get("api_key") or 0)
            .first()
        )
        if key is None:
            raise ValidationError({"api_key": "Choose an API key."})
        services.suspend_api_key(incident, key, actor=request.user, reason=reason)
        return f"Suspended {key}."
    ids = [int(x) for x in request.POST.getlist("devices") if x.isdigit()]
    devices = list(Device.objects.restrict(request.user, "view").filter(pk__in=ids))
    if not devices or len(devices) != len(set(ids)):
        raise ValidationError({"devices": "Choose at least one device."})
    func = {
        ContainmentKind.QUARANTINE: services.quarantine_devices,
        ContainmentKind.REVOKE_CERTIFICATES: services.revoke_certificates,
        ContainmentKind.PAUSE_ROLLOUTS: services.pause_rollouts,
    }.get(kind)
    if func is None:
        raise ValidationError({"kind": "Choose a containment action."})
    done = func(incident, devices, actor=request.user, reason=reason)
    return f"{ContainmentKind(kind).label}: {len(done)} action(s) recorded."


@incident_action
def reverse(request, incident, action_pk):
    action = ContainmentAction.objects.filter(incident=incident, pk=action_pk).first()
    if action is None:
        raise Http404("No such action.")
    services.reverse_containment(action, actor=request.user, reason=request.POST.get("reason", ""))
    return "Action reversed."


@incident_action
def apply_playbook(request, incident):
    playbook = (
        Playbook.objects.restrict(request.user, "view")
        .filter(pk=request.POST.get("playbook") or 0, organization=incident.organization)
        .first()
    )
    if playbook is None:
        raise ValidationError({"playbook": "Choose a playbook."})
    tasks = services.apply_playbook(incident, playbook, actor=request.user)
    return f"Applied “{playbook.name}”: {len(tasks)} tasks."


@incident_action
def toggle_task(request, incident, task_pk):
    task = IncidentTask.objects.filter(incident=incident, pk=task_pk).first()
    if task is None:
        raise Http404("No such task.")
    services.update_task(task, actor=request.user, done=request.POST.get("done") == "1")
    return None


@incident_action
def save_review(request, incident):
    fields = {f: request.POST.get(f, "") for f in services.reviews.REVIEW_FIELDS}
    services.save_review(incident, actor=request.user, **fields)
    if request.POST.get("complete"):
        services.complete_review(incident, actor=request.user)
        return "Review completed; the incident may be closed."
    return "Review saved."


@incident_action
def add_follow_up(request, incident):
    due = request.POST.get("due_on") or None
    due_on = parse_date(due) if due else None
    if due and due_on is None:
        raise ValidationError({"due_on": "Use a date like 2026-05-31."})
    services.add_follow_up_action(
        incident,
        actor=request.user,
        text=request.POST.get("text", ""),
        owner=_member(request, incident, "owner"),
        due_on=due_on,
        requirement_ref=request.POST.get("requirement_ref", ""),
    )
    return "Follow-up action added."


@login_required
def report(request, pk):
    """Printable report page (``?download=html|md`` downloads the file)."""
    incident = _incident(request, pk, "export")
    fmt = request.GET.get("download")
    if fmt:
        if fmt not in reports.FORMATS:
            raise Http404("Unknown format.")
        content, content_type, filename = reports.export_report(incident, fmt, actor=request.user)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    content, _type, _name = reports.export_report(incident, "html", actor=request.user)
    return allow_own_inline_styles(HttpResponse(content))
