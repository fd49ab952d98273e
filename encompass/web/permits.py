"""What the web UI offers a person: the same role check the services make, asked before drawing
a button, so nobody is shown an action that will be refused.

Everything here is computed from ``grants_of(user)`` through ``encompass.tenancy.access.may`` and
``can_create`` (one grant query per request, cached by ``GrantCacheMiddleware``), so a button is
shown exactly when the service would accept the click -- apart from the object's *state* (an
alert already resolved), which the template still checks. The service keeps refusing: hiding a
button is a courtesy, never the protection.

Use it in templates (``{% load access %}``, see ``encompass/web/templatetags/access.py``) or in a
view::

    from encompass.web.permits import permits
    if permits(request.user, "acknowledge", alert): ...
    if permits(request.user, "add", Device, organization=org): ...
"""

from django.apps import apps
from django.db import models

from encompass.tenancy.access import allowed_roles, can_create, may


def resolve_model(target):
    """A model class from a model instance, a model class or an ``"app_label.Model"`` label."""
    if isinstance(target, str):
        return apps.get_model(target)
    if isinstance(target, models.Model):
        return type(target)
    if isinstance(target, type) and issubclass(target, models.Model):
        return target
    raise TypeError(f"Not a model, model instance or model label: {target!r}")


def _id_along(obj, lookup):
    """The id at the end of a ``tenant_lookup``/``site_lookup`` path (``device__site`` ->
    ``obj.device.site_id``), read from loaded attributes; None when the path is empty or null."""
    if not lookup:
        return None
    *hops, last = lookup.split("__")
    for hop in hops:
        obj = getattr(obj, hop, None)
        if obj is None:
            return None
    if last == "pk":
        return obj.pk
    field = obj._meta.get_field(last)
    return getattr(obj, field.attname, None)


def scope_of(obj):
    """``(organization id, site id)`` of a tenant object (site None for organization-wide rows
    and models without a ``site_lookup``)."""
    model = type(obj)
    return (
        _id_along(obj, getattr(model, "tenant_lookup", None)),
        _id_along(obj, getattr(model, "site_lookup", None)),
    )


def _pk(value):
    return getattr(value, "pk", value)


def permits(user, action, target, *, organization=None, site=None):
    """Whether ``user``'s roles allow ``action`` on ``target``.

    ``target`` is an object (its own organization and site are used) or a model / model label
    (then ``organization`` -- usually the switcher's current organization -- and optionally
    ``site`` say where). ``action="add"`` asks ``can_create``. A model that defines no such
    action answers False rather than raising, so a template typo hides a button instead of
    breaking the page (the tests per role catch the typo).
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    model = resolve_model(target)
    if isinstance(target, models.Model):
        organization, obj_site = scope_of(target)
        site = obj_site if obj_site is not None else site
    organization = _pk(organization)
    site = _pk(site)
    if organization is None:
        return False
    try:
        allowed_roles(model, action)
    except ValueError:
        return False
    if action == "add":
        return can_create(user, model, organization, site)
    if site is not None and not getattr(model, "site_lookup", None) and action != "view":
        # A site-narrowed role acts only on rows of its sites (as restrict() does).
        site = None
    return may(user, model, action, organization, site)
