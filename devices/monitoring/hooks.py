"""Extension points of device ingest and the fleet simulator.

* ``register_ingest_listener(func)``: ``func(device, events)`` is called inside the ingest
  transaction after a batch's accepted events are stored (``events`` are the new ``Event`` rows,
  in order). Firmware uses it to follow reported versions and confirm updates. With
  ``kinds=("device.heartbeat", ...)`` it is called only for a device whose new events include one
  of those kinds (each call is a savepoint: a batch of many devices pays only for those).
* ``register_simulator_behaviour(cls)``: the simulator instantiates each registered class once
  per simulated device (``cls(device_state, client)``) and calls its ``tick()`` every cycle, so
  other apps (firmware rollouts) can add what a simulated device does.
* ``register_expiring_certificates(func)``: ``func(devices, now, horizon)`` yields
  ``ExpiringCertificate`` rows for certificates of those devices (a queryset) that expire after
  ``now`` and by ``horizon`` with no newer one to take over. Identity registers it; the
  certificate-expiry alert rule reads it (and raises nothing when no app registered one).
"""

from typing import NamedTuple

_ingest_listeners = []
_listener_kinds = {}
_simulator_behaviours = []
_expiring_certificate_sources = []


class ExpiringCertificate(NamedTuple):
    device: object  # devices.Device
    certificate_id: int
    not_after: object  # datetime


def register_ingest_listener(func, *, kinds=None):
    if func not in _ingest_listeners:
        _ingest_listeners.append(func)
        _listener_kinds[func] = frozenset(kinds) if kinds is not None else None


def ingest_listeners():
    """``(func, kinds)`` of every listener (``kinds`` None: every batch)."""
    return [(func, _listener_kinds.get(func)) for func in _ingest_listeners]


def register_simulator_behaviour(cls):
    if cls not in _simulator_behaviours:
        _simulator_behaviours.append(cls)


def simulator_behaviours():
    return list(_simulator_behaviours)


def register_expiring_certificates(func):
    if func not in _expiring_certificate_sources:
        _expiring_certificate_sources.append(func)


def expiring_certificates(devices, now, horizon):
    """Every registered source's ``ExpiringCertificate`` rows (none when no app registered one)."""
    for source in _expiring_certificate_sources:
        yield from source(devices, now, horizon)
