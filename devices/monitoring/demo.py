"""Demo monitoring: default alert rules per organization, six hours of device history stored
through the real ingest path, and the alerts that history raises.

Runs after the device, identity and firmware demos (which leave devices deployed, enrolled and
on known firmware). The history is what the fleet simulator sends (``simulator.METRICS``:
heartbeats carrying the firmware version, telemetry around per-device baselines), stored with
``ingest_events`` one batch per device per hour, so health, last-seen times, per-device
baselines and rule evaluation are the real ones. On top of the normal traffic:

* one device's temperature climbs past the threshold in the last hour (threshold alert),
* one device reports a burst of failed logins (security-count alert),
* one device went quiet two hours ago (absence alert from the scheduled evaluation, health
  aged to offline).
"""

import datetime
import math
from collections import Counter

from django.utils import timezone

from devices.choices import LifecycleState
from devices.models import Device
from encompass.tenancy import crud

from .choices import AlertSeverity, Comparison, RuleKind
from .health import refresh_health
from .ingest import ingest_events
from .models import AlertRule
from .rules import evaluate_scheduled
from .simulator import METRICS

HOURS = 6
SAMPLES_PER_HOUR = 6  # one heartbeat and one telemetry sample every 10 minutes
HOT_TEMP = 58.0


def _rules(org, actor, devices):
    """The defaults a fleet team starts from; firmware expectations follow the fleet's majority."""
    rows = [
        {
            "name": "Device too hot",
            "description": "Enclosure temperature above what the hardware is rated for.",
            "kind": RuleKind.THRESHOLD,
            "severity": AlertSeverity.HIGH,
            "metric": "temp_c",
            "comparison": Comparison.GT,
            "threshold": 50.0,
        },
        {
            "name": "CPU saturated",
            "kind": RuleKind.THRESHOLD,
            "severity": AlertSeverity.MEDIUM,
            "metric": "cpu_pct",
            "comparison": Comparison.GTE,
            "threshold": 95.0,
        },
        {
            "name": "Humidity out of range",
            "kind": RuleKind.THRESHOLD,
            "severity": AlertSeverity.MEDIUM,
            "metric": "humidity_pct",
            "comparison": Comparison.GT,
            "threshold": 85.0,
        },
        {
            "name": "Temperature unlike this device",
            "description": "More than 4 standard deviations from the device's own normal.",
            "kind": RuleKind.ANOMALY,
            "severity": AlertSeverity.LOW,
            "metric": "temp_c",
            "sigma": 4.0,
            "min_samples": 30,
        },
        {
            "name": "No heartbeat",
            "description": "Silent for more than three heartbeat intervals of its device type.",
            "kind": RuleKind.ABSENCE,
            "severity": AlertSeverity.HIGH,
        },
        {
            "name": "Repeated failed logins",
            "kind": RuleKind.SECURITY_COUNT,
            "severity": AlertSeverity.HIGH,
            "signal": "auth_failure",
            "count": 5,
            "window_minutes": 10,
        },
        {
            "name": "Tamper switch",
            "kind": RuleKind.SECURITY_COUNT,
            "severity": AlertSeverity.CRITICAL,
            "signal": "tamper",
            "count": 1,
            "window_minutes": 60,
            "auto_resolve": False,
        },
        {
            "name": "Certificate expires within 30 days",
            "kind": RuleKind.CERTIFICATE_EXPIRY,
            "severity": AlertSeverity.MEDIUM,
            "days_before": 30,
        },
    ]
    versions = {}
    for device in devices:
        if device.device_type.supports_ota and device.firmware_version:
            versions.setdefault(device.device_type, Counter())[device.firmware_version] += 1
    for device_type, counts in sorted(versions.items(), key=lambda kv: kv[0].pk):
        expected = counts.most_common(1)[0][0]
        rows.append(
            {
                "name": f"{device_type.model} not on {expected}",
                "description": "Firmware differs from the version the fleet standardised on.",
                "kind": RuleKind.FIRMWARE_MISMATCH,
                "severity": AlertSeverity.LOW,
                "expected_firmware": expected,
                "device_type": device_type,
            }
        )
    return [
        crud.create_object(AlertRule, {"organization": org, **row}, actor=actor) for row in rows
    ]


def _value(metric, base, at, phase, rng):
    _range, swing, noise = METRICS[metric]
    value = base + swing * math.sin(at.timestamp() / 600 + phase) + rng.gauss(0, noise)
    return round(value, 2)


def _history(device, rng, now, *, until_hours=0, hot=False, intruder=False):
    """Ingest HOURS of heartbeats and telemetry for ``device``, one batch per hour."""
    baselines = {m: rng.uniform(*spec[0]) for m, spec in METRICS.items() if rng.random() < 0.85}
    baselines = baselines or {"temp_c": rng.uniform(18, 30)}
    step = datetime.timedelta(minutes=60 // SAMPLES_PER_HOUR)
    for hour in range(HOURS, until_hours, -1):
        batch_end = now - datetime.timedelta(hours=hour - 1)
        items = []
        for n in range(SAMPLES_PER_HOUR):
            at = batch_end - step * (SAMPLES_PER_HOUR - 1 - n)
            stamp = at.strftime("%Y%m%dT%H%M")
            items.append(
                {
                    "id": f"demo-hb-{stamp}",
                    "kind": "heartbeat",
                    "occurred_at": at.isoformat(),
                    "payload": {
                        "firmware_version": device.firmware_version or "1.0.0",
                        "uptime_s": int((at - now).total_seconds()) + 30 * 86400,
                    },
                }
            )
            metrics = {m: _value(m, b, at, device.pk, rng) for m, b in baselines.items()}
            if hot and hour == 1 and n >= SAMPLES_PER_HOUR - 2:
                metrics["temp_c"] = HOT_TEMP + n
            items.append(
                {
                    "id": f"demo-tm-{stamp}",
                    "kind": "telemetry",
                    "occurred_at": at.isoformat(),
                    "payload": {"metrics": metrics},
                }
            )
        if intruder and hour == 1:
            for n in range(6):
                at = batch_end - datetime.timedelta(seconds=50 * (6 - n))
                items.append(
                    {
                        "id": f"demo-sec-{n}",
                        "kind": "security",
                        "occurred_at": at.isoformat(),
                        "payload": {"signal": "auth_failure", "detail": "ssh login as root"},
                    }
                )
        ingest_events(device, items, now=batch_end)


def seed(ctx):
    now = timezone.now().replace(second=0, microsecond=0)
    for demo in ctx.orgs:
        org = demo.org
        pks = [d.pk for d in ctx.data.get("devices", {}).get(org.slug, [])]
        devices = list(
            Device.objects.filter(pk__in=pks, state=LifecycleState.DEPLOYED)
            .select_related("organization", "site", "device_type")
            .order_by("pk")
        )
        rules = _rules(org, demo.admin or demo.user("admin"), devices)
        for index, device in enumerate(devices):
            _history(
                device,
                ctx.rng,
                now,
                until_hours=2 if index == 2 else 0,  # went quiet two hours ago
                hot=index == 0,
                intruder=index == 1,
            )
        ctx.log(
            f"{org.name}: {len(rules)} alert rules, {HOURS} h of history for "
            f"{len(devices)} deployed devices"
        )
    refresh_health(now)
    summary = evaluate_scheduled(now)
    ctx.log(f"scheduled rules: {summary['raised']} alert(s) raised")
