"""Checks on device credentials: unique per device, and gone when the device is retired."""

from django.db.models import CharField, Count, DateField, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat

from devices.choices import ACTIVE_STATES, LifecycleState
from devices.models import Device

from . import en_18031, outcome_from_devices, reason_case, register
from .certificates import certificates_model

# Retiring devices count too: their credentials must be gone before they leave service.
RETIRED_STATES = (
    LifecycleState.DECOMMISSIONING,
    LifecycleState.DECOMMISSIONED,
    LifecycleState.DISPOSED,
)


@register(
    "unique-device-credentials",
    "Every device in service has its own credential",
    maps={
        "etsi-en-303-645": ["5.1-1", "5.1-2", "5.4-4"],
        **en_18031("AUM-2-1", "AUM-5-1", "CCK-3"),
        "nist-csf": ["PR.AA-01"],
        "iec-62443-4-2": ["CR 1.5", "CR 1.2"],
        "iso-27001-annex-a": ["A.5.17"],
    },
    remedy="Enroll a certificate or rotate a per-device token for each listed device.",
)
def unique_device_credentials(organization, *, now):
    """Each device in service authenticates with a credential of its own: a valid certificate or
    a per-device token, never one shared with another device."""
    devices = Device.objects.filter(organization=organization, state__in=ACTIVE_STATES)
    checked = devices.count()
    shared = (
        Device.objects.filter(organization=organization)
        .exclude(token_hash="")
        .values("token_hash")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values("token_hash")
    )
    shared_token = ~Q(token_hash="") & Q(token_hash__in=shared)
    no_credential = Q(token_hash="")
    Certificate = certificates_model()
    with_cert = 0
    if Certificate is not None:
        valid = Certificate.objects.valid(now).filter(organization=organization)
        no_credential &= ~Exists(valid.filter(device_id=OuterRef("pk")))
        with_cert = valid.values("device_id").distinct().count()
    failing = devices.filter(shared_token | no_credential).annotate(
        finding_reason=reason_case(
            [
                (shared_token, "its token is shared with another device"),
                (no_credential, "no valid certificate and no device token"),
            ]
        )
    )
    return outcome_from_devices(
        failing,
        checked,
        "All {checked} devices in service have a credential of their own.",
        "{n} of {checked} devices in service lack a unique credential.",
        {"with_certificate": with_cert, "shared_tokens": shared.count()},
    )


@register(
    "decommissioned-credentials",
    "No retired device keeps a valid credential",
    maps={
        "etsi-en-303-645": ["5.5-8"],
        **en_18031("AUM-3"),
        "nist-csf": ["PR.AA-01", "PR.PS-03"],
        "iec-62443-4-2": ["CR 1.4", "CR 1.5"],
        "iso-27001-annex-a": ["A.5.18", "A.7.14"],
    },
    remedy="Revoke the certificates and clear the tokens of the listed devices.",
)
def decommissioned_credentials(organization, *, now):
    """Retiring, decommissioned and disposed devices must not be able to authenticate."""
    retired = Device.objects.filter(organization=organization, state__in=RETIRED_STATES)
    checked = retired.count()
    token = ~Q(token_hash="")
    reasons = [(token, Value("device token still set"))]
    condition = token
    Certificate = certificates_model()
    if Certificate is not None:
        valid = Certificate.objects.valid(now).filter(device_id=OuterRef("pk"))
        until = Cast(
            Cast(Subquery(valid.order_by("-not_after").values("not_after")[:1]), DateField()),
            CharField(),
        )
        cert_text = Concat(Value("a certificate is valid until "), until)
        has_cert = Exists(valid)
        reasons = [
            (token & has_cert, Concat(Value("device token still set; "), cert_text)),
            (has_cert, cert_text),
            *reasons,
        ]
        condition = token | has_cert
    failing = retired.filter(condition).annotate(finding_reason=reason_case(reasons))
    return outcome_from_devices(
        failing,
        checked,
        "None of the {checked} retired devices can still authenticate.",
        "{n} of {checked} retired devices still hold a valid credential.",
    )
