"""Evaluating alert rules: on ingest, a batch at a time; in the minute job, absence and expiry.

On ingest a batch costs a fixed number of queries whatever its size and however many devices it
spans (``evaluate_many``; ``evaluate_batch`` is the one-device case): the organizations' enabled
rules, the devices' tags (only if a rule filters on tags), their metric baselines (read and
written in bulk), their open rule alerts, and one count per security-count rule whose signal is
in the batch. Alerts go through ``raise_alert`` (deduplicated per rule and
device) and, when a condition clears and the rule says so, ``resolve_alert(..., system=True)``.
"""

import datetime
import logging
from collections import defaultdict

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from devices.choices import ACTIVE_STATES
from encompass.events.models import Event

from .choices import COMPARE, AlertSource, AlertStatus, Comparison, RuleKind
from .hooks import expiring_certificates
from .models import Alert, AlertRule, MetricBaseline
from .services import raise_alert, resolve_alert

logger = logging.getLogger(__name__)

RULES_ACTOR = "job:alert-rules"
INGEST_KINDS = (
    RuleKind.THRESHOLD,
    RuleKind.RATE_OF_CHANGE,
    RuleKind.ANOMALY,
    RuleKind.SECURITY_COUNT,
    RuleKind.FIRMWARE_MISMATCH,
    RuleKind.ABSENCE,
)


class Finding:
    """The outcome of one rule for one device: breached (with details), cleared, or no news."""

    __slots__ = ("details", "state", "title")

    def __init__(self, state, title="", details=None):
        self.state = state  # "breach" | "clear"
        self.title = title
        self.details = details or {}


def _samples(events):
    """(time, metric, value, event id) of every telemetry metric in the batch, in time order."""
    samples = []
    for event in events:
        if event.kind != "device.telemetry":
            continue
        at = event.occurred_at or event.received_at
        for metric, value in event.payload.get("metrics", {}).items():
            samples.append((at, metric, float(value), event.pk))
    samples.sort(key=lambda s: s[0])
    return samples


def _update_baselines(device, samples, anomaly_rules, rate_rules, existing, new):
    """Welford update of every metric's baseline (``existing``: metric -> locked row; the rows it
    creates are appended to ``new``); returns anomaly and rate findings by rule and the metrics
    seen. Nothing is written here: the caller writes every device's baselines in bulk."""
    by_metric = defaultdict(list)
    for sample in samples:
        by_metric[sample[1]].append(sample)
    if not by_metric:
        return {}, set()
    findings = {}
    anomaly_by_metric = defaultdict(list)
    for rule in anomaly_rules:
        anomaly_by_metric[rule.metric].append(rule)
    rate_by_metric = defaultdict(list)
    for rule in rate_rules:
        rate_by_metric[rule.metric].append(rule)
    for metric, metric_samples in by_metric.items():
        baseline = existing.get(metric)
        if baseline is None:
            baseline = MetricBaseline(
                organization_id=device.organization_id, device=device, metric=metric
            )
            new.append(baseline)
        for at, _metric, value, event_pk in metric_samples:
            for rule in anomaly_by_metric.get(metric, ()):
                sd = baseline.stddev
                if baseline.samples >= rule.min_samples and sd > 0:
                    score = abs(value - baseline.mean) / sd
                    if score > rule.sigma:
                        findings[rule.pk] = Finding(
                            "breach",
                            f"{device}: {metric} = {value:g} is {score:.1f}σ from its normal "
                            f"{baseline.mean:.3g} ± {sd:.2g}",
                            {
                                "metric": metric,
                                "value": value,
                                "mean": baseline.mean,
                                "stddev": sd,
                                "sigma": score,
                                "event": event_pk,
                            },
                        )
                    elif findings.get(rule.pk) is None or findings[rule.pk].state != "breach":
                        findings[rule.pk] = Finding("clear")
            for rule in rate_by_metric.get(metric, ()):
                if baseline.last_value is None or baseline.last_at is None:
                    continue
                minutes = (at - baseline.last_at).total_seconds() / 60
                if minutes <= 0:
                    continue
                rate = (value - baseline.last_value) / minutes
                if abs(rate) > rule.threshold:
                    findings[rule.pk] = Finding(
                        "breach",
                        f"{device}: {metric} changes {rate:+.3g}/min "
                        f"(limit ±{rule.threshold:g}/min)",
                        {
                            "metric": metric,
                            "value": value,
                            "rate_per_minute": rate,
                            "event": event_pk,
                        },
                    )
                elif findings.get(rule.pk) is None or findings[rule.pk].state != "breach":
                    findings[rule.pk] = Finding("clear")
            baseline.add(value)
            if baseline.last_at is None or at >= baseline.last_at:
                baseline.last_value, baseline.last_at = value, at
    return findings, set(by_metric)


def _threshold(rule, device, samples):
    values = [(value, pk) for _at, metric, value, pk in samples if metric == rule.metric]
    if not values:
        return None
    compare = COMPARE[Comparison(rule.comparison)]
    breaches = [(value, pk) for value, pk in values if compare(value, rule.threshold)]
    if not breaches:
        return Finding("clear")
    value, pk = breaches[-1]
    symbol = Comparison(rule.comparison).label
    return Finding(
        "breach",
        f"{device}: {rule.metric} = {value:g} ({symbol} {rule.threshold:g})",
        {"metric": rule.metric, "value": value, "breaches": len(breaches), "event": pk},
    )


def _firmware(rule, device, events):
    reported = [
        e.payload["firmware_version"]
        for e in events
        if e.kind == "device.heartbeat" and e.payload.get("firmware_version")
    ]
    if not reported:
        return None
    version = reported[-1]
    if version == rule.expected_firmware:
        return Finding("clear")
    return Finding(
        "breach",
        f"{device}: runs firmware {version}, expected {rule.expected_firmware}",
        {"reported": version, "expected": rule.expected_firmware},
    )


def _security_count(rule, device, counts):
    """``counts``: device pk -> signals in the window, for the devices that sent this signal now."""
    if counts is None or device.pk not in counts:
        return None
    seen = counts[device.pk]
    if seen < rule.count:
        return None
    return Finding(
        "breach",
        f"{device}: {seen} × {rule.signal} in {rule.window_minutes} min",
        {"signal": rule.signal, "count": seen, "window_minutes": rule.window_minutes},
    )


def _apply(device, rules_by_pk, findings, open_alerts):
    for rule_pk, finding in findings.items():
        if finding is None:
            continue
        rule = rules_by_pk[rule_pk]
        key = rule.dedupe_key(device)
        if finding.state == "breach":
            raise_alert(
                organization=device.organization,
                kind=f"rule.{rule.kind}",
                title=finding.title[:300],
                severity=rule.severity,
                dedupe_key=key,
                device=device,
                details={"rule": rule.pk, "rule_name": rule.name, **finding.details},
                source=AlertSource.RULE,
                actor=RULES_ACTOR,
            )
        elif rule.auto_resolve and key in open_alerts:
            resolve_alert(
                open_alerts[key],
                actor=RULES_ACTOR,
                resolution=f"Condition cleared ({rule.name}).",
                system=True,
            )


def evaluate_batch(device, events, *, now=None):
    """Evaluate the organization's rules against one device's newly stored events."""
    evaluate_many([(device, events)], now=now)


def _tags_by_device(devices):
    through = devices[0].tags.through
    tags = defaultdict(set)
    for device_id, tag_id in through.objects.filter(
        device_id__in=[d.pk for d in devices]
    ).values_list("device_id", "tag_id"):
        tags[device_id].add(tag_id)
    return tags


def _security_counts(rule, devices, now):
    """How many ``rule.signal`` security events each device sent within the window (one query)."""
    since = now - datetime.timedelta(minutes=rule.window_minutes)
    counts = dict.fromkeys((d.pk for d in devices), 0)
    counts.update(
        Event.objects.filter(
            device_id__in=[d.pk for d in devices],
            kind="device.security",
            payload__signal=rule.signal,
            received_at__gte=since,
        )
        .order_by()
        .values("device_id")
        .annotate(n=Count("id"))
        .values_list("device_id", "n")
    )
    return counts


def evaluate_many(batches, *, now=None):
    """Evaluate the rules against the newly stored events of several devices at once.

    ``batches`` is a list of ``(device, events)``. A fixed number of queries whatever the number
    of devices: the enabled rules of their organizations, their tags (only if a rule filters on
    tags), their baselines (read and written in bulk), one count per security-count rule whose
    signal is in the batch, their open rule alerts; then one ``raise_alert`` / ``resolve_alert``
    per finding that changes something.
    """
    now = now or timezone.now()
    batches = [(device, events) for device, events in batches if events]
    if not batches:
        return
    devices = [device for device, _events in batches]
    all_rules = list(
        AlertRule.objects.filter(
            organization_id__in={d.organization_id for d in devices},
            enabled=True,
            kind__in=INGEST_KINDS,
        )
    )
    tags = _tags_by_device(devices) if any(r.tag_id for r in all_rules) else {}
    rules_of = {}
    for device in devices:
        rules_of[device.pk] = [
            r
            for r in all_rules
            if r.organization_id == device.organization_id
            and r.applies_to(device, tags.get(device.pk, set()))
        ]
    samples_of = {device.pk: _samples(events) for device, events in batches}
    metrics = {s[1] for samples in samples_of.values() for s in samples}
    existing = defaultdict(dict)
    if metrics:
        for baseline in (
            MetricBaseline.objects.select_for_update()
            .filter(device_id__in=[d.pk for d in devices], metric__in=sorted(metrics))
            .order_by("pk")
        ):
            existing[baseline.device_id][baseline.metric] = baseline
    findings_of, changed, new = {}, [], []
    for device in devices:
        by_kind = defaultdict(list)
        for rule in rules_of[device.pk]:
            by_kind[rule.kind].append(rule)
        findings, seen = _update_baselines(
            device,
            samples_of[device.pk],
            by_kind[RuleKind.ANOMALY],
            by_kind[RuleKind.RATE_OF_CHANGE],
            existing[device.pk],
            new,
        )
        changed += [b for b in existing[device.pk].values() if b.metric in seen]
        findings_of[device.pk] = (by_kind, findings)
    if changed:
        MetricBaseline.objects.bulk_update(
            changed, ["samples", "mean", "m2", "last_value", "last_at"]
        )
    if new:
        MetricBaseline.objects.bulk_create(new, ignore_conflicts=True)
    counts = {}
    for rule in {r.pk: r for r in all_rules if r.kind == RuleKind.SECURITY_COUNT}.values():
        signalled = [
            device
            for device, events in batches
            if rule in rules_of[device.pk]
            and any(
                e.kind == "device.security" and e.payload.get("signal") == rule.signal
                for e in events
            )
        ]
        if signalled:
            counts[rule.pk] = _security_counts(rule, signalled, now)
    pending = []
    for device, events in batches:
        by_kind, findings = findings_of[device.pk]
        if not rules_of[device.pk]:
            continue
        samples = samples_of[device.pk]
        for rule in by_kind[RuleKind.THRESHOLD]:
            findings[rule.pk] = _threshold(rule, device, samples)
        for rule in by_kind[RuleKind.FIRMWARE_MISMATCH]:
            findings[rule.pk] = _firmware(rule, device, events)
        for rule in by_kind[RuleKind.SECURITY_COUNT]:
            findings[rule.pk] = _security_count(rule, device, counts.get(rule.pk))
        for rule in by_kind[RuleKind.ABSENCE]:
            findings[rule.pk] = Finding("clear")  # it reported: silence is over
        if any(findings.values()):
            pending.append((device, findings))
    if not pending:
        return
    keys = [r.dedupe_key(device) for device, _f in pending for r in rules_of[device.pk]]
    open_alerts = _open_alerts({d.organization_id for d, _f in pending}, keys)
    for device, findings in pending:
        mine = {
            r.dedupe_key(device): open_alerts[r.dedupe_key(device)]
            for r in rules_of[device.pk]
            if r.dedupe_key(device) in open_alerts
            and open_alerts[r.dedupe_key(device)].organization_id == device.organization_id
        }
        if all(f is None or f.state == "clear" for f in findings.values()) and not mine:
            continue
        _apply(device, {r.pk: r for r in rules_of[device.pk]}, findings, mine)


def _open_alerts(organization_ids, keys):
    if isinstance(organization_ids, int):
        organization_ids = [organization_ids]
    return {
        alert.dedupe_key: alert
        for alert in Alert.objects.filter(
            organization_id__in=list(organization_ids), dedupe_key__in=keys
        )
        .exclude(status=AlertStatus.RESOLVED)
        .select_related("device")
    }


# --- the minute job ---------------------------------------------------------------------------


def _matching_devices(rule):
    from devices.models import Device

    devices = Device.objects.filter(
        organization_id=rule.organization_id, state__in=ACTIVE_STATES
    ).select_related("organization", "site", "device_type")
    if rule.device_type_id:
        devices = devices.filter(device_type_id=rule.device_type_id)
    if rule.site_id:
        devices = devices.filter(site_id=rule.site_id)
    if rule.tag_id:
        devices = devices.filter(tags=rule.tag_id)
    return devices


def _absence(rule, now):
    raised = resolved = 0
    devices = list(_matching_devices(rule).filter(last_seen_at__isnull=False))
    open_alerts = _open_alerts(rule.organization_id, [rule.dedupe_key(d) for d in devices])
    for device in devices:
        limit = (
            datetime.timedelta(minutes=rule.window_minutes)
            if rule.window_minutes
            else datetime.timedelta(seconds=3 * device.device_type.heartbeat_interval)
        )
        key = rule.dedupe_key(device)
        silent = now - device.last_seen_at
        if silent > limit and key not in open_alerts:
            raise_alert(
                organization=device.organization,
                kind=f"rule.{rule.kind}",
                title=f"{device}: silent for {int(silent.total_seconds() // 60)} min",
                severity=rule.severity,
                dedupe_key=key,
                device=device,
                details={
                    "rule": rule.pk,
                    "rule_name": rule.name,
                    "last_seen_at": device.last_seen_at.isoformat(),
                },
                source=AlertSource.RULE,
                actor=RULES_ACTOR,
            )
            raised += 1
        elif silent <= limit and key in open_alerts and rule.auto_resolve:
            resolve_alert(
                open_alerts[key], actor=RULES_ACTOR, resolution="Reporting again.", system=True
            )
            resolved += 1
    return raised, resolved


def _security_count_clear(rule, now):
    resolved = 0
    if not rule.auto_resolve:
        return 0
    since = now - datetime.timedelta(minutes=rule.window_minutes)
    prefix = f"rule:{rule.pk}:device:"
    for alert in Alert.objects.filter(
        organization_id=rule.organization_id, dedupe_key__startswith=prefix
    ).exclude(status=AlertStatus.RESOLVED):
        seen = Event.objects.filter(
            device_id=alert.device_id,
            kind="device.security",
            payload__signal=rule.signal,
            received_at__gte=since,
        ).count()
        if seen < rule.count:
            resolve_alert(
                alert,
                actor=RULES_ACTOR,
                resolution=f"{seen} × {rule.signal} in the last {rule.window_minutes} min.",
                system=True,
            )
            resolved += 1
    return resolved


def _certificate_expiry(rule, now):
    """Certificates of matching devices that expire within ``days_before`` (from the app that
    registered them, identity: see hooks.register_expiring_certificates)."""
    horizon = now + datetime.timedelta(days=rule.days_before)
    raised = 0
    for expiring in expiring_certificates(_matching_devices(rule), now, horizon):
        device = expiring.device
        raise_alert(
            organization=device.organization,
            kind=f"rule.{rule.kind}",
            title=f"{device}: certificate expires {expiring.not_after:%Y-%m-%d}",
            severity=rule.severity,
            dedupe_key=rule.dedupe_key(device),
            device=device,
            details={"rule": rule.pk, "certificate": expiring.certificate_id},
            source=AlertSource.RULE,
            actor=RULES_ACTOR,
        )
        raised += 1
    return raised


def evaluate_scheduled(now=None):
    """The minute job's half of rule evaluation: absence, security-count clearing, expiry."""
    now = now or timezone.now()
    summary = {"raised": 0, "resolved": 0}
    rules = AlertRule.objects.filter(
        enabled=True,
        kind__in=[RuleKind.ABSENCE, RuleKind.SECURITY_COUNT, RuleKind.CERTIFICATE_EXPIRY],
    )
    for rule in rules:
        try:
            with transaction.atomic():
                if rule.kind == RuleKind.ABSENCE:
                    raised, resolved = _absence(rule, now)
                    summary["raised"] += raised
                    summary["resolved"] += resolved
                elif rule.kind == RuleKind.SECURITY_COUNT:
                    summary["resolved"] += _security_count_clear(rule, now)
                else:
                    summary["raised"] += _certificate_expiry(rule, now)
        except Exception:  # one broken rule must not stop the others
            logger.exception("evaluating alert rule %s failed", rule.pk)
    return summary


__all__ = ["evaluate_batch", "evaluate_many", "evaluate_scheduled"]
