"""Guards and side effects of lifecycle transitions, registered by the apps that own them.

A guard is ``guard(device, transition) -> str | None``: a message saying what must be done first,
or ``None`` when the transition may go ahead. A side effect is
``effect(device, transition, *, actor, reason)``, run in the same transaction after the state
changed (revoke certificates on decommissioning, leave rollouts, ...). Register in
``AppConfig.ready``::

    from devices.lifecycle import register_guard, register_side_effect
    register_guard(LifecycleState.DEPLOYED, needs_active_certificate)
"""

from collections import defaultdict

from .choices import LifecycleState

_guards = defaultdict(list)
_effects = defaultdict(list)


def register_guard(target, func):
    if func not in _guards[target]:
        _guards[target].append(func)


def register_side_effect(target, func):
    if func not in _effects[target]:
        _effects[target].append(func)


def guards_for(target):
    return list(_guards[target])


def side_effects_for(target):
    return list(_effects[target])


# --- guards the registry itself owns ------------------------------------------------------------


def needs_site(device, transition):
    if device.site_id is None:
        return "Assign the device to a site before it is deployed."
    return None


def back_to_where_it_was(device, transition):
    if transition.source == LifecycleState.QUARANTINED and (
        device.quarantined_from and transition.target != device.quarantined_from
    ):
        label = LifecycleState(device.quarantined_from).label
        return f"A quarantined device is released only to the state it came from ({label})."
    return None


register_guard(LifecycleState.DEPLOYED, needs_site)
for _state in (LifecycleState.PROVISIONED, LifecycleState.DEPLOYED, LifecycleState.MAINTENANCE):
    register_guard(_state, back_to_where_it_was)


# --- decommissioning hooks ----------------------------------------------------------------------
# Apps that hold credentials for a device, or enrol it in rollouts, register how to undo that.
# The decommissioning workflow calls every registered function; each returns how many things it
# revoked / removed, and must be safe to call twice.

_credential_revokers = []
_rollout_removers = []


def register_credential_revoker(func):
    """``func(device, *, actor, reason) -> int``: revoke the device's credentials of one kind."""
    if func not in _credential_revokers:
        _credential_revokers.append(func)


def register_rollout_remover(func):
    """``func(device, *, actor, reason) -> int``: take the device out of pending rollouts."""
    if func not in _rollout_removers:
        _rollout_removers.append(func)


def credential_revokers():
    return list(_credential_revokers)


def rollout_removers():
    return list(_rollout_removers)
