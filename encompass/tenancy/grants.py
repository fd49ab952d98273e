"""What a principal holds, read in one query: every role on every organization and site, directly
or through a group.

Everything that answers "what may this user do" -- ``access_q`` (and so every ``restrict()``),
``roles_in``, ``all_roles_of``, ``can_create``, the websocket's reach -- is computed from
``grants_of(user)``, so the answers cannot disagree.

A principal's grants are few (a handful of organizations and sites), so they are read first and
the tenant filter becomes plain indexed conditions (``organization_id IN (...)``) that let
PostgreSQL use the organization indexes instead of OR'd subqueries.

Caching: only inside ``grant_cache()`` (the ``GrantCacheMiddleware`` opens one around each HTTP
request), keyed by user, so a page that asks ten times reads the grants once. As soon as that
request writes to a grant table or a user-group table, the cache is dropped and stays off until
the request ends, so a change made in the request (committed or rolled back) is seen at once.
Outside it -- websockets, tasks, management commands, services called directly -- every call reads
the grants afresh, so a revoked membership applies to the very next check.
"""

import contextlib
import contextvars
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from django.db import connections, router
from django.db.models import BigIntegerField, F, Model, QuerySet, Value
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse

ROLE_PREFIX = "role_"


@dataclass(frozen=True)
class Grant:
    """One role held on an organization (``site_id`` None) or on one of its sites."""

    organization_id: int
    site_id: int | None
    role: str


class Grants:
    """The roles a principal holds, and the reach they give for a set of roles."""

    __slots__ = ("rows",)

    def __init__(self, rows: Iterable[Grant] = ()) -> None:
        self.rows = frozenset(rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def __repr__(self) -> str:
        return f"Grants({sorted(self.rows, key=lambda g: (g.organization_id, g.site_id or 0))})"

    def roles(self) -> set[str]:
        """Every role held anywhere."""
        return {g.role for g in self.rows}

    def roles_in(self, organization_id: int, site_id: int | None = None) -> set[str]:
        """Roles held organization-wide in ``organization_id``, plus those on ``site_id``."""
        return {
            g.role
            for g in self.rows
            if (g.site_id is None and g.organization_id == organization_id)
            or (site_id is not None and g.site_id == site_id)
        }

    def organization_ids(self, roles: Collection[str]) -> set[int]:
        """Organizations where one of ``roles`` is held organization-wide."""
        return {g.organization_id for g in self.rows if g.site_id is None and g.role in roles}

    def site_ids(self, roles: Collection[str]) -> set[int]:
        """Sites on which one of ``roles`` is held (site-narrowed grants)."""
        return {g.site_id for g in self.rows if g.site_id is not None and g.role in roles}

    def site_organization_ids(self, roles: Collection[str]) -> set[int]:
        """Organizations of the sites on which one of ``roles`` is held."""
        return {g.organization_id for g in self.rows if g.site_id is not None and g.role in roles}


def _grant_querysets(user: Any) -> list[QuerySet]:
    from .models import (
        OrganizationGroupObjectPermission,
        OrganizationUserObjectPermission,
        SiteGroupObjectPermission,
        SiteUserObjectPermission,
    )

    role = {"permission__codename__startswith": ROLE_PREFIX}
    orgs = {"org": F("content_object_id"), "site": Cast(Value(None), BigIntegerField())}
    sites = {"org": F("content_object__organization_id"), "site": F("content_object_id")}
    fields = ("org", "site", "permission__codename")
    return [
        OrganizationUserObjectPermission.objects.filter(user=user, **role)
        .annotate(**orgs)
        .values_list(*fields),
        OrganizationGroupObjectPermission.objects.filter(group__user=user, **role)
        .annotate(**orgs)
        .values_list(*fields),
        SiteUserObjectPermission.objects.filter(user=user, **role)
        .annotate(**sites)
        .values_list(*fields),
        SiteGroupObjectPermission.objects.filter(group__user=user, **role)
        .annotate(**sites)
        .values_list(*fields),
    ]


def read_grants(user: Any) -> Grants:
    """One query: every role ``user`` holds, organization-wide or on a site, direct or by group."""
    first, *rest = _grant_querysets(user)
    rows = first.union(*rest, all=True)
    return Grants(
        Grant(org, site, codename.removeprefix(ROLE_PREFIX)) for org, site, codename in rows
    )


def _is_principal(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


# {user pk: Grants} while a grant_cache() is open and no grant was written in it; None otherwise.
_cache: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "encompass_grant_cache", default=None
)

# Tables whose writes change what someone holds.
_GRANT_TABLE_MODELS = (
    "tenancy.OrganizationUserObjectPermission",
    "tenancy.OrganizationGroupObjectPermission",
    "tenancy.SiteUserObjectPermission",
    "tenancy.SiteGroupObjectPermission",
)
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "ALTER", "DROP")


def _grant_tables() -> set[str]:
    from django.apps import apps
    from django.contrib.auth import get_user_model

    tables = {apps.get_model(label)._meta.db_table for label in _GRANT_TABLE_MODELS}
    user_model = get_user_model()
    tables.add(user_model.groups.through._meta.db_table)
    group_model = cast(type[Model], user_model._meta.get_field("groups").related_model)
    tables.add(group_model._meta.db_table)
    return tables


class _Watch:
    """An execute wrapper that turns the cache off when a statement writes a grant table."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.tables = _grant_tables()

    def __call__(self, execute: Callable, sql: Any, params: Any, many: bool, context: dict) -> Any:
        if self.state["on"] and isinstance(sql, str):
            head = sql.lstrip()[:8].upper()
            if head.startswith(_WRITE_VERBS) and any(t in sql for t in self.tables):
                self.state["on"] = False
                self.state["grants"].clear()
        return execute(sql, params, many, context)


@contextlib.contextmanager
def grant_cache() -> Iterator[None]:
    """Read each user's grants at most once inside this block (until a grant table is written)."""
    if _cache.get() is not None:
        yield
        return
    state: dict[str, Any] = {"on": True, "grants": {}}
    token = _cache.set(state)
    try:
        from .models import OrganizationUserObjectPermission

        alias = router.db_for_write(OrganizationUserObjectPermission)
        with connections[alias].execute_wrapper(_Watch(state)):
            yield
    finally:
        _cache.reset(token)


def grants_of(user: Any) -> Grants:
    """The principal's ``Grants`` (empty for anonymous and inactive users)."""
    if not _is_principal(user):
        return Grants()
    state = _cache.get()
    if state is None or not state["on"]:
        return read_grants(user)
    found = state["grants"].get(user.pk)
    if found is None:
        found = state["grants"][user.pk] = read_grants(user)
    return found


class GrantCacheMiddleware:
    """Opens a ``grant_cache()`` around each request (place it right after authentication)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with grant_cache():
            return self.get_response(request)
