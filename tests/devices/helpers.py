"""Helpers for device tests: walking the decommissioning checklist through its services."""

from devices import decommissioning
from devices.choices import DisposalMethod, RetentionDecision, WipeMethod
from devices.models import DecommissioningChecklist, Device

ORDER = ["credentials", "rollouts", "data_wipe", "retention", "disposal"]


def complete_checklist(device, actor, *, upto="disposal"):
    """Do the checklist items in order up to and including ``upto`` (state permitting)."""
    steps = {
        "credentials": lambda d: decommissioning.revoke_credentials(d, actor=actor),
        "rollouts": lambda d: decommissioning.remove_from_rollouts(d, actor=actor),
        "data_wipe": lambda d: decommissioning.attest_data_wipe(
            d, actor=actor, method=WipeMethod.CRYPTO_ERASE, attested_by="Tess Field"
        ),
        "retention": lambda d: decommissioning.decide_retention(
            d, actor=actor, decision=RetentionDecision.DELETE, justification="Minimisation"
        ),
        "disposal": lambda d: decommissioning.record_disposal(
            d,
            actor=actor,
            method=DisposalMethod.RECYCLED,
            certificate_reference="COD-2026-0001",
            handled_by="GreenWEEE Ltd",
        ),
    }
    for name in ORDER[: ORDER.index(upto) + 1]:
        checklist = DecommissioningChecklist.objects.filter(device=device).first()
        if checklist is not None and checklist.is_done(name):
            continue
        steps[name](Device.objects.get(pk=device.pk))
    device.refresh_from_db()
    return device
