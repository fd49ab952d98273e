"""Evaluating alert rules: on ingest, a batch at a time; in the minute job, absence and expiry.

On ingest one batch of one device costs a fixed number of queries whatever its size: the
organization's enabled rules, the device's tags (only if a rule filters on tags), its metric
baselines (read and written in bulk), its open rule alerts, and one count per security-count rule
whose signal is in the batch. Alerts go through ``raise_alert`` (deduplicated per rule and
device) and, when a condition clears and the rule says so, ``resolve_alert(..., system=True)``.
"""

import datetime
import logging
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from devices.choices import ACTIVE_STATES
from encompass.events.models import Event

from .choices import COMPARE, AlertSource, AlertStatus, Comparison, RuleKind
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


def _rules_for(device, kinds):
    rules = list(
        AlertRule.objects.filter(
            organization_id=device.organization_id, enabled=True, kind__in=kinds
        )
    )
    tag_ids = set()
    if any(rule.tag_id for rule in rules):
        tag_ids = set(device.tags.values_list("pk", flat=True))
    return [rule for rule in rules if rule.applies_to(device, tag_ids)]


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


def _update_baselines(device, samples, anomaly_rules, rate_rules):
    """Welford update of every metric's baseline; returns anomaly and rate findings by rule."""
    by_metric = defaultdict(list)
    for sample in samples:
        by_metric[sample[1]].append(sample)
    if not by_metric:
        return {}
    existing = {
        b.metric: b
        for b in MetricBaseline.objects.select_for_update().filter(
            device=device, metric__in=list(by_metric)
        )
    }
    findings = {}
    anomaly_by_metric = defaultdict(list)
    for rule in anomaly_rules:
        anomaly_by_metric[rule.metric].append(rule)
    rate_by_metric = defaultdict(list)
    for rule in rate_rules:
        rate_by_metric[rule.metric].append(rule)
    new = []
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
    changed = [b for b in existing.values() if b.metric in by_metric]
    if changed:
        MetricBaseline.objects.bulk_update(
            changed, ["samples", "mean", "m2", "last_value", "last_at"]
        )
    if new:
        MetricBaseline.objects.bulk_create(new, ignore_conflicts=True)
    return findings


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


def _security_count(rule, device, events, now):
    if not any(
        e.kind == "device.security" and e.payload.get("signal") == rule.signal for e in events
    ):
        return None
    since = now - datetime.timedelta(minutes=rule.window_minutes)
    seen = Event.objects.filter(
        device=device, kind="device.security", payload__signal=rule.signal, received_at__gte=since
    ).count()
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
    now = now or timezone.now()
    rules = _rules_for(device, INGEST_KINDS)
    samples = _samples(events)
    by_kind = defaultdict(list)
    for rule in rules:
        by_kind[rule.kind].append(rule)
    findings = _update_baselines(
        device, samples, by_kind[RuleKind.ANOMALY], by_kind[RuleKind.RATE_OF_CHANGE]
    )
    if not rules:
        return
    for rule in by_kind[RuleKind.THRESHOLD]:
        findings[rule.pk] = _threshold(rule, device, samples)
    for rule in by_kind[RuleKind.FIRMWARE_MISMATCH]:
        findings[rule.pk] = _firmware(rule, device, events)
    for rule in by_kind[RuleKind.SECURITY_COUNT]:
        findings[rule.pk] = _security_count(rule, device, events, now)
    for rule in by_kind[RuleKind.ABSENCE]:
        findings[rule.pk] = Finding("clear")  # it reported: silence is over
    if not any(findings.values()):
        return
    rules_by_pk = {rule.pk: rule for rule in rules}
    open_alerts = _open_alerts(device.organization_id, [r.dedupe_key(device) for r in rules])
    if all(f is None or f.state == "clear" for f in findings.values()) and not open_alerts:
        return
    _apply(device, rules_by_pk, findings, open_alerts)


def _open_alerts(organization_id, keys):
    return {
        alert.dedupe_key: alert
        for alert in Alert.objects.filter(organization_id=organization_id, dedupe_key__in=keys)
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


def _certificate_model():
    from django.apps import apps

    try:
        model = apps.get_model("identity", "DeviceCertificate")
    except LookupError:
        return None
    names = {f.name for f in model._meta.get_fields()}
    return model if {"device", "not_after"} <= names else None


def _certificate_expiry(rule, now):
    """Certificates of matching devices that expire within ``days_before`` (identity's model)."""
    model = _certificate_model()
    if model is None:
        return 0
    horizon = now + datetime.timedelta(days=rule.days_before)
    certificates = model.objects.filter(
        device__in=_matching_devices(rule), not_after__lte=horizon, not_after__gt=now
    ).select_related("device", "device__organization", "device__site")
    names = {f.name for f in model._meta.get_fields()}
    if "revoked_at" in names:
        certificates = certificates.filter(revoked_at__isnull=True)
    raised = 0
    for certificate in certificates:
        device = certificate.device
        newer = model.objects.filter(device=device, not_after__gt=horizon)
        if "revoked_at" in names:
            newer = newer.filter(revoked_at__isnull=True)
        if newer.exists():
            continue  # already rotated
        raise_alert(
            organization=device.organization,
            kind=f"rule.{rule.kind}",
            title=f"{device}: certificate expires {certificate.not_after:%Y-%m-%d}",
            severity=rule.severity,
            dedupe_key=rule.dedupe_key(device),
            device=device,
            details={"rule": rule.pk, "certificate": certificate.pk},
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


__all__ = ["evaluate_batch", "evaluate_scheduled"]
