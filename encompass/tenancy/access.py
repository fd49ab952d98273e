"""The authorization choke point.

Every queryset that reaches a user goes through ``Model.objects.restrict(user, action)``:

* a user's reach is the set of Organization and Site rows on which guardian holds a
  ``role_<role>`` object permission for them (directly or through a group) -- written by the
  membership and API-key services, or granted by an Admin on guardian's object-permission screens.
  It is read first, in one query (``grants.grants_of``), and applied as plain conditions
  (``organization_id IN (...)``, ``site_id IN (...)``) the organization indexes serve;
* the model's ``role_permissions`` table says which roles may perform the action;
* an organization-wide grant reaches every row of that organization; a site grant reaches rows of
  that site, and (for ``view`` only) the organization-wide rows of the site's organization, such as
  device types and alert rules.

Superuser status and global model permissions are deliberately ignored: they never cross a
tenant boundary.
"""

from collections.abc import Collection
from typing import Any

from django.db.models import Model, Q, QuerySet

from encompass.exceptions import NotPermitted

from .grants import grants_of
from .roles import DEFAULT_ROLE_PERMISSIONS


def allowed_roles(model: type[Model], action: str) -> Collection[str]:
    table = getattr(model, "role_permissions", None) or DEFAULT_ROLE_PERMISSIONS
    if action not in table:
        raise ValueError(f"{model.__name__} defines no permission for action {action!r}")
    return table[action]


def _pk(value: Any) -> Any:
    return getattr(value, "pk", value)


def reach_of(user: Any, model: type[Model], action: str) -> tuple[set[int], set[int]]:
    """``(organization ids, site ids)`` whose rows of ``model`` ``user`` may ``action``.

    Organization ids reach every row of those organizations; site ids reach the rows of those
    sites (for a model with a ``site_lookup``). For a model without one, a site grant lets its
    holder *view* the organization-wide rows of the site's organization.
    """
    roles = allowed_roles(model, action)
    grants = grants_of(user)
    if not roles or not grants:
        return set(), set()
    org_ids = grants.organization_ids(roles)
    if getattr(model, "site_lookup", None):
        return org_ids, grants.site_ids(roles)
    if action == "view":
        org_ids |= grants.site_organization_ids(roles)
    return org_ids, set()


def access_q(user: Any, model: Any, action: str) -> Q | None:
    """A ``Q`` selecting the rows of ``model`` that ``user`` may ``action``; ``None`` for nobody.

    The reach is resolved now (one grant query, or none inside a request that already read it),
    so the ``Q`` holds literal ids: build the queryset when you are about to use it.
    """
    org_ids, site_ids = reach_of(user, model, action)
    q = None
    if org_ids:
        q = Q(**{f"{model.tenant_lookup}__in": sorted(org_ids)})
    if site_ids:
        site_q = Q(**{f"{model.site_lookup}__in": sorted(site_ids)})
        q = site_q if q is None else q | site_q
    return q


def restrict_queryset(queryset: QuerySet, user: Any, action: str = "view") -> QuerySet:
    q = access_q(user, queryset.model, action)
    if q is None:
        return queryset.none()
    return queryset.filter(q)


def has_access(user: Any, obj: Model, action: str) -> bool:
    """True when ``obj`` is within ``user``'s reach for ``action``."""
    # The model's own ``restrict`` (incidents add the responders granted on one incident).
    manager: Any = type(obj)._default_manager
    return manager.restrict(user, action).filter(pk=obj.pk).exists()


def ensure_permitted(user: Any, action: str, obj: Model) -> None:
    """Raise ``NotPermitted`` unless ``user`` may ``action`` ``obj``."""
    if not has_access(user, obj, action):
        raise NotPermitted(f"You may not {action} this {type(obj)._meta.verbose_name}.")


def roles_in(user: Any, organization: Any, site: Any = None) -> set[str]:
    """The roles ``user`` holds in ``organization`` (organization-wide, or on ``site``)."""
    return grants_of(user).roles_in(_pk(organization), _pk(site) if site is not None else None)


def may(user: Any, model: type[Model], action: str, organization: Any, site: Any = None) -> bool:
    """Whether ``user``'s roles in ``organization`` (or on ``site``) allow ``action``."""
    return bool(roles_in(user, organization, site) & set(allowed_roles(model, action)))


def can_create(user: Any, model: type[Model], organization: Any, site: Any = None) -> bool:
    """Whether ``user`` may add a ``model`` row in ``organization`` (on ``site``).

    A site-narrowed role counts only for rows that belong to one of its sites.
    """
    return may(
        user, model, "add", organization, site if getattr(model, "site_lookup", None) else None
    )


def ensure_can_create(user: Any, model: type[Model], organization: Any, site: Any = None) -> None:
    """Raise ``NotPermitted`` unless ``can_create(user, model, organization, site)``."""
    if not can_create(user, model, organization, site):
        raise NotPermitted(f"You may not add a {model._meta.verbose_name} here.")


def may_anywhere(user: Any, model: type[Model], action: str) -> bool:
    """Whether ``user`` holds, anywhere, a role that allows ``action`` on ``model``."""
    return bool(all_roles_of(user) & set(allowed_roles(model, action)))


def all_roles_of(user: Any) -> set[str]:
    """Every role ``user`` holds anywhere (organization-wide or on a site), directly or through
    a group -- the same grants ``access_q`` and ``roles_in`` count."""
    return grants_of(user).roles()
