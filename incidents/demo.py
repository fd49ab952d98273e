"""Demo incidents, through the services: one open incident in containment (escalated from an
alert, botnet playbook partly done, a device quarantined) and one closed with its review."""

from devices.choices import LifecycleState
from devices.monitoring.services import raise_alert

from . import services
from .models import EscalationRule, Playbook


def _deployed(ctx, org):
    devices = ctx.data.get("devices", {}).get(org.slug, [])
    found = []
    for device in devices:
        device.refresh_from_db()
        if device.state == LifecycleState.DEPLOYED:
            found.append(device)
    return found


def seed(ctx):
    for demo in ctx.orgs:
        org = demo.org
        officer = demo.user("security_officer")
        operator = demo.user("operator")
        services.load_shipped_playbooks(org, actor=officer)
        botnet = Playbook.objects.get(organization=org, slug="botnet-traffic")
        tampering = Playbook.objects.get(organization=org, slug="physical-tampering")
        EscalationRule.objects.get_or_create(
            organization=org,
            name="Critical security alerts",
            defaults={
                "min_alert_severity": "critical",
                "alert_kind_prefix": "security.",
                "category": "unauthorized_access",
                "playbook": Playbook.objects.get(
                    organization=org, slug="compromised-device-credentials"
                ),
            },
        )
        devices = _deployed(ctx, org)
        if len(devices) < 2:
            ctx.log(f"{org.name}: not enough deployed devices for the incident demo; skipped")
            continue
        suspect, tampered = devices[0], devices[-1]

        # Open: escalated from an alert, now in containment with the playbook partly done.
        alert, _ = raise_alert(
            organization=org,
            kind="security.outbound_traffic",
            title=f"{suspect.name}: outbound connections to 203.0.113.9:6667",
            severity="high",
            dedupe_key=f"demo.botnet.{suspect.uid}",
            device=suspect,
            details={"destination": "203.0.113.9", "port": 6667, "connections_per_min": 140},
        )
        incident = services.escalate_alerts(
            [alert],
            actor=officer,
            category="denial_of_service",
            title="Botnet-like traffic from a field gateway",
        )
        services.apply_playbook(incident, botnet, actor=officer)
        services.assign_incident(incident, officer, actor=officer)
        services.add_responder(incident, operator, actor=officer)
        services.change_phase(incident, "analysis", actor=officer)
        services.add_note(
            incident, "Flow logs show IRC-style traffic every 30 s since 02:10 UTC.", actor=operator
        )
        services.change_phase(incident, "containment", actor=officer)
        services.quarantine_devices(
            incident,
            [suspect],
            actor=officer,
            reason="Beaconing to a known command-and-control host",
        )
        for task in incident.tasks.order_by("order")[:4]:
            services.update_task(task, actor=operator, done=True)

        # Closed: physical tampering, worked end to end, with its review.
        closed = services.declare_incident(
            organization=org,
            title="Enclosure opened on a substation meter",
            severity="medium",
            category="physical_tampering",
            actor=officer,
            devices=[tampered],
            description="Tamper switch fired; seal found broken during the weekly round.",
        )
        services.apply_playbook(closed, tampering, actor=officer)
        for task in closed.tasks.all():
            services.update_task(task, actor=officer, done=True)
        services.change_phase(closed, "analysis", actor=officer)
        services.change_phase(closed, "containment", actor=officer)
        services.record_containment(closed, actor=officer, note="Meter isolated at the site switch")
        services.change_phase(closed, "eradication", actor=officer)
        services.change_phase(closed, "recovery", actor=officer)
        services.change_phase(closed, "lessons_learned", actor=officer)
        services.save_review(
            closed,
            actor=officer,
            what_happened="A contractor opened the meter enclosure to reach a cable tray.",
            root_cause="Work permit did not mention the meter; no escort for contractors.",
            what_worked="Tamper alert reached the on-call officer within two minutes.",
            what_to_change="Escort contractors in substations; add tamper seals to the checklist.",
        )
        services.add_follow_up_action(
            closed,
            actor=officer,
            text="Add enclosure seal checks to the weekly round",
            requirement_ref="ETSI EN 303 645 5.4-1",
        )
        services.complete_review(closed, actor=officer)
        services.change_phase(closed, "closed", actor=officer)
        ctx.log(
            f"{org.name}: incidents {incident.reference} (containment), {closed.reference} (closed)"
        )
