"""Automated compliance checks: computed from the fleet, mapped to the requirements they serve.

A check is a function ``check(organization, *, now) -> CheckOutcome`` registered with
``@register(...)``. The modules of this package each hold the checks of one subject; importing the
package imports them all. ``compliance.services.checks.run_checks`` runs them, stores each run
(``CheckRun``) and turns the latest one into evidence for every mapped requirement.
"""

from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings
from django.db.models import Case, CharField, Q, QuerySet, Value, When


class DeviceFindings:
    """The failing devices of a check as a queryset (annotated ``finding_reason``), never loaded
    whole: ``run_checks`` copies them into ``CheckFinding`` rows with one INSERT ... SELECT.

    It also reads like the list of dicts the checks used to return (``len``, index, iterate),
    which is what tests and small callers use.
    """

    def __init__(self, queryset, count=None):
        self.queryset = queryset.order_by("pk")
        self._count = count

    def __len__(self):
        if self._count is None:
            self._count = self.queryset.count()
        return self._count

    def __bool__(self):
        return len(self) > 0

    def _rows(self, qs):
        for d in qs.values("pk", "uid", "name", "site_id", "device_type_id", "finding_reason"):
            yield {
                "id": d["pk"],
                "uid": d["uid"],
                "name": d["name"] or d["uid"],
                "site": d["site_id"],
                "device_type": d["device_type_id"],
                "reason": d["finding_reason"],
            }

    def __iter__(self):
        return self._rows(self.queryset)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self._rows(self.queryset[index]))
        rows = list(self._rows(self.queryset[index : index + 1]))
        if not rows:
            raise IndexError(index)
        return rows[0]


@dataclass
class CheckOutcome:
    """What a check found. ``passed=None`` means the check does not apply (``summary`` says why).

    ``failing`` is a list of dicts (members, incidents ...; devices carry "id", "site",
    "device_type") or a ``DeviceFindings`` for checks computed set-wise over the fleet.
    """

    passed: bool | None
    summary: str
    failing: object = field(default_factory=list)
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

EN_18031_PARTS = ("en-18031-1", "en-18031-2", "en-18031-3")


def en_18031(*refs, parts=EN_18031_PARTS):
    """The ``maps`` entries for EN 18031 requirements that are in every listed part."""
    return {part: list(refs) for part in parts}


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
    """A pass when no device fails; the summary counts the failures. ``failing`` is a list of
    ``device_row`` dicts or a queryset of devices annotated with ``finding_reason``."""
    if isinstance(failing, QuerySet):
        failing = DeviceFindings(failing)
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


def reason_case(branches, default=""):
    """A SQL ``CASE`` giving each device its reason: ``branches`` is ``[(Q, text or expression)]``
    (one per device type or firmware version -- few), so the text is built once per branch."""
    whens = [
        When(q, then=text if not isinstance(text, str) else Value(text)) for q, text in branches
    ]
    if not whens:
        return Value(default, output_field=CharField())
    return Case(*whens, default=Value(default), output_field=CharField())


def any_of(conditions):
    """``Q`` that matches any of ``conditions`` (an empty list matches nothing)."""
    q = Q(pk__in=[])
    for condition in conditions:
        q |= condition
    return q
