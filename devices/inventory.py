"""The asset inventory: what the organization owns, counted the ways risk work needs.

One aggregate query per breakdown, whatever the fleet size.
"""

from django.db.models import Count, Q
from django.utils import timezone

from .choices import STATE_COLOURS, Criticality, Health, LifecycleState

# Devices no longer in the field: they do not count towards exposure (support ended ...).
RETIRED_STATES = (LifecycleState.DECOMMISSIONED, LifecycleState.DISPOSED)


def inventory(devices):
    """Counts over ``devices`` (an already restricted queryset) by state, type, site, firmware,
    health and criticality, plus the in-service devices whose type's support has ended."""
    today = timezone.localdate()
    in_service = devices.exclude(state__in=RETIRED_STATES)
    by_state = dict(devices.values_list("state").annotate(n=Count("pk")).order_by())
    support_ended = Q(device_type__support_ends_on__lt=today)
    types = (
        devices.values(
            "device_type",
            "device_type__manufacturer",
            "device_type__model",
            "device_type__hardware_revision",
            "device_type__device_class",
            "device_type__support_ends_on",
        )
        .annotate(count=Count("pk"), in_service=Count("pk", filter=~Q(state__in=RETIRED_STATES)))
        .order_by("device_type__manufacturer", "device_type__model")
    )
    sites = (
        devices.values("site", "site__name", "site__slug")
        .annotate(count=Count("pk"), in_service=Count("pk", filter=~Q(state__in=RETIRED_STATES)))
        .order_by("site__name")
    )
    firmware = (
        in_service.values(
            "device_type", "device_type__manufacturer", "device_type__model", "firmware_version"
        )
        .annotate(count=Count("pk"))
        .order_by("device_type__manufacturer", "device_type__model", "firmware_version")
    )
    health = dict(in_service.values_list("health").annotate(n=Count("pk")).order_by())
    criticality = dict(in_service.values_list("criticality").annotate(n=Count("pk")).order_by())
    ended = in_service.filter(support_ended)
    return {
        "total": sum(by_state.values()),
        "in_service": sum(n for s, n in by_state.items() if s not in RETIRED_STATES),
        "by_state": [
            {"state": s.value, "label": s.label, "colour": STATE_COLOURS[s], "count": by_state[s]}
            for s in LifecycleState
            if by_state.get(s)
        ],
        "by_type": [
            {
                "id": row["device_type"],
                "name": " ".join(
                    filter(
                        None,
                        [
                            row["device_type__manufacturer"],
                            row["device_type__model"],
                            row["device_type__hardware_revision"]
                            and f"rev {row['device_type__hardware_revision']}",
                        ],
                    )
                ),
                "device_class": row["device_type__device_class"],
                "support_ends_on": row["device_type__support_ends_on"],
                "support_ended": bool(
                    row["device_type__support_ends_on"]
                    and row["device_type__support_ends_on"] < today
                ),
                "count": row["count"],
                "in_service": row["in_service"],
            }
            for row in types
        ],
        "by_site": [
            {
                "id": row["site"],
                "name": row["site__name"] or "No site",
                "slug": row["site__slug"],
                "count": row["count"],
                "in_service": row["in_service"],
            }
            for row in sites
        ],
        "by_firmware": [
            {
                "device_type": row["device_type"],
                "type_name": f"{row['device_type__manufacturer']} {row['device_type__model']}",
                "firmware_version": row["firmware_version"] or "",
                "count": row["count"],
            }
            for row in firmware
        ],
        "by_health": [
            {"health": h.value, "label": h.label, "count": health[h]}
            for h in Health
            if health.get(h)
        ],
        "by_criticality": [
            {"criticality": c.value, "label": c.label, "count": criticality[c]}
            for c in Criticality
            if criticality.get(c)
        ],
        "support_ended": {
            "count": ended.count(),
            "by_type": [
                {"id": row["device_type"], "count": row["count"]}
                for row in ended.values("device_type").annotate(count=Count("pk")).order_by()
            ],
        },
    }
