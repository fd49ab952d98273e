"""Automated compliance checks: computed from the fleet, mapped to the requirements they serve.

A check is a function ``check(organization, *, now) -> CheckOutcome`` registered with
``@register(...)``. The modules of this package each hold the checks of one subject; importing the
package imports them all. ``compliance.services.checks.run_checks`` runs them, stores each run
(``CheckRun``) and turns the latest one into evidence for every mapped requirement.
"""

from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings


@dataclass
class CheckOutcome:
    """What a check found. ``passed=None`` means the check does not apply (``summary`` says why)."""

    passed: bool | None
    summary: str
    failing: list = field(default_factory=list)  # dicts; devices carry "id", "site", "device_type"
    checked: int = 0
    measured: dict = field(default_factory=dict)

    @classmethod
    def not_applicable(cls, reason):
        return cls(passed=None, summary=f"not applicable: {reason}")


@dataclass(frozen=True)
class Check:
    code: str
    title: str
    description: str
    func: object
    # {framework code: (requirement refs)} -- every framework the check serves.
    maps: dict
    # Device checks list failing devices: an assessment's scope (sites / types) narrows them.
    device_scoped: bool = True
    remedy: str = ""

    def run(self, organization, *, now):
        return self.func(organization, now=now)

    def refs(self):
        return [(code, ref) for code, refs in self.maps.items() for ref in refs]


_registry: dict[str, Check] = {}

SUBJECT_MODULES = ("credentials", "certificates", "firmware", "fleet", "governance")


def register(code, title, *, maps, description="", device_scoped=True, remedy=""):
    def wrap(func):
        _registry[code] = Check(
            code=code,
            title=title,
            description=description or (func.__doc__ or "").strip(),
            func=func,
            maps={k: tuple(v) for k, v in maps.items()},
            device_scoped=device_scoped,
            remedy=remedy,
        )
        return func

    return wrap


def all_checks():
    _load()
    return dict(_registry)


def get_check(code):
    _load()
    return _registry.get(code)


_loaded = False


def _load():
    global _loaded
    if not _loaded:
        for name in SUBJECT_MODULES:
            import_module(f"{__name__}.{name}")
        _loaded = True


def setting(name, default):
    """A tunable of the checks: ``settings.COMPLIANCE[name]`` or the default."""
    return getattr(settings, "COMPLIANCE", {}).get(name, default)


def device_row(device, reason):
    """The stored shape of a failing device (enough to link, scope and explain it)."""
    return {
        "id": device.pk,
        "uid": device.uid,
        "name": str(device),
        "site": device.site_id,
        "device_type": device.device_type_id,
        "reason": reason,
    }


def outcome_from_devices(failing, checked, ok_text, fail_text, measured=None):
    """A pass when no device fails; the summary counts the failures."""
    if failing:
        return CheckOutcome(
            passed=False,
            summary=fail_text.format(n=len(failing), checked=checked),
            failing=failing,
            checked=checked,
            measured=measured or {},
        )
    return CheckOutcome(
        passed=True,
        summary=ok_text.format(checked=checked),
        checked=checked,
        measured=measured or {},
    )


def app_installed(label):
    from django.apps import apps

    return apps.is_installed(label) or any(a.label == label for a in apps.get_app_configs())
