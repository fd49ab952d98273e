"""Planning a rollout: its settings validated, the devices it targets, and their waves."""

import math
import secrets

from devices.choices import LifecycleState
from devices.models import Device
from encompass.exceptions import ValidationError

from ..choices import (
    FailureAction,
    ReleaseStatus,
)
from ..models import DeviceUpdate, RolloutWave

SETTINGS_FIELDS = (
    "waves",
    "success_threshold",
    "failure_threshold",
    "failure_action",
    "soak_minutes",
    "manual_approval",
    "window_start",
    "window_end",
    "max_start_delay_seconds",
    "health_deadline_minutes",
    "update_timeout_minutes",
    "start_at",
)
MAX_WAVES = 20


# --- validation --------------------------------------------------------------------------------


def validate_wave_spec(waves):
    """Waves are cumulative: ``[{"percent": 1}, {"count": 50}, {"percent": 100}]``."""
    if not isinstance(waves, list) or not waves:
        raise ValidationError(
            {"waves": 'Give a list of waves, e.g. [{"percent": 10}, {"percent": 100}].'}
        )
    if len(waves) > MAX_WAVES:
        raise ValidationError({"waves": f"At most {MAX_WAVES} waves."})
    cleaned = []
    for i, wave in enumerate(waves, start=1):
        if not isinstance(wave, dict) or len(wave) != 1 or not ({"percent", "count"} & set(wave)):
            raise ValidationError(
                {"waves": f'Wave {i}: give either {{"percent": p}} or {{"count": n}}.'}
            )
        ((kind, value),) = wave.items()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError({"waves": f"Wave {i}: {kind} must be a number."})
        if kind == "percent" and not 0 < value <= 100:
            raise ValidationError({"waves": f"Wave {i}: percent must be above 0 and at most 100."})
        if kind == "count" and (value < 1 or int(value) != value):
            raise ValidationError({"waves": f"Wave {i}: count must be a whole number, 1 or more."})
        cleaned.append({kind: int(value) if kind == "count" else value})
    last = cleaned[-1]
    if last != {"percent": 100}:
        raise ValidationError(
            {"waves": 'The last wave must be {"percent": 100} so every targeted device is covered.'}
        )
    previous_pct = 0
    for i, wave in enumerate(cleaned, start=1):
        if "percent" in wave:
            if wave["percent"] <= previous_pct:
                raise ValidationError(
                    {"waves": f"Wave {i}: waves are cumulative; each percentage must grow."}
                )
            previous_pct = wave["percent"]
    return cleaned


def validate_settings(values, release, organization, device_type):
    if release.organization_id != organization.pk:
        raise ValidationError({"release": "Unknown release."})
    if release.status != ReleaseStatus.APPROVED:
        raise ValidationError(
            {
                "release": f"Only approved releases can be rolled out; this one is "
                f"{release.get_status_display().lower()}."
            }
        )
    if device_type.organization_id != organization.pk:
        raise ValidationError({"device_type": "Unknown device type."})
    if not release.device_types.filter(pk=device_type.pk).exists():
        raise ValidationError(
            {"device_type": f"Release {release.version} is not for {device_type}."}
        )
    values["waves"] = validate_wave_spec(values.get("waves", [{"percent": 100}]))
    start, end = values.get("window_start"), values.get("window_end")
    if (start is None) != (end is None):
        raise ValidationError({"window_end": "Give both ends of the maintenance window, or none."})
    if start is not None and start == end:
        raise ValidationError({"window_end": "The window must not start and end at the same time."})
    if values.get("failure_action", FailureAction.PAUSE) not in FailureAction.values:
        raise ValidationError({"failure_action": "Use pause or abort."})
    for name in ("success_threshold", "failure_threshold"):
        value = values.get(name)
        if value is not None and not 0 <= value <= 100:
            raise ValidationError({name: "A percentage from 0 to 100."})
    return values


def check_targets(organization, sites, tags, devices):
    for field, items in (("sites", sites), ("tags", tags), ("devices", devices)):
        for item in items:
            if item.organization_id != organization.pk:
                raise ValidationError({field: f"{item} is not in {organization}."})


# --- targeting and planning --------------------------------------------------------------------


def eligible_devices(rollout):
    """Deployed devices the rollout targets that can take its release (anti-rollback)."""
    release = rollout.release
    qs = Device.objects.filter(
        organization_id=rollout.organization_id,
        device_type_id=rollout.device_type_id,
        state=LifecycleState.DEPLOYED,
        firmware_security_version__lte=release.security_version,
    ).exclude(firmware_version=release.version)
    if rollout.pk:
        site_ids = list(rollout.sites.values_list("pk", flat=True))
        tag_ids = list(rollout.tags.values_list("pk", flat=True))
        device_ids = list(rollout.devices.values_list("pk", flat=True))
        if site_ids:
            qs = qs.filter(site_id__in=site_ids)
        if tag_ids:
            qs = qs.filter(tags__in=tag_ids)
        if device_ids:
            qs = qs.filter(pk__in=device_ids)
    return qs.distinct()


def wave_sizes(spec, total):
    """Sizes of each wave for ``total`` devices (cumulative spec); empty waves are dropped."""
    sizes, covered = [], 0
    for wave in spec:
        if "percent" in wave:
            upto = math.ceil(total * wave["percent"] / 100)
        else:
            upto = covered + wave["count"]
        upto = min(total, max(upto, covered))
        if upto > covered:
            sizes.append(upto - covered)
            covered = upto
    return sizes


def plan_waves(rollout):
    devices = list(eligible_devices(rollout).only("pk", "firmware_version"))
    if not devices:
        raise ValidationError(
            {
                "target": "No deployed device matches this rollout's target (or all already run "
                "this release, or a higher security version)."
            }
        )
    rng = secrets.SystemRandom()
    rng.shuffle(devices)
    start = 0
    for number, size in enumerate(wave_sizes(rollout.waves, len(devices)), start=1):
        wave = RolloutWave.objects.create(
            organization_id=rollout.organization_id, rollout=rollout, number=number, planned=size
        )
        DeviceUpdate.objects.bulk_create(
            DeviceUpdate(
                organization_id=rollout.organization_id,
                rollout=rollout,
                wave=wave,
                device=device,
                release_id=rollout.release_id,
                from_version=device.firmware_version,
            )
            for device in devices[start : start + size]
        )
        start += size
    return len(devices)


# --- state changes -----------------------------------------------------------------------------
