"""The authorization choke point.

Every queryset that reaches a user goes through ``Model.objects.restrict(user, action)``:

* a user's reach is the set of Organization and Site rows on which guardian holds a
  ``role_<role>`` object permission for them (directly or through a group) -- written by the
  membership and API-key services, or granted by an Admin on guardian's object-permission screens;
* the model's ``role_permissions`` table says which roles may perform the action;
* an organization-wide grant reaches every row of that organization; a site grant reaches rows of
  that site, and (for ``view`` only) the organization-wide rows of the site's organization, such as
  device types and alert rules.

Superuser status and global model permissions are deliberately ignored: they never cross a
tenant boundary.
"""

from django.db.models import Q

from encompass.exceptions import NotPermitted

from .roles import DEFAULT_ROLE_PERMISSIONS, permission_codename


def allowed_roles(model, action):
    table = getattr(model, "role_permissions", None) or DEFAULT_ROLE_PERMISSIONS
    if action not in table:
        raise ValueError(f"{model.__name__} defines no permission for action {action!r}")
    return table[action]


def _is_principal(user):
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


def granted_organization_ids(user, roles):
    """Subquery: organizations where ``user`` holds one of ``roles`` organization-wide."""
    from .models import OrganizationGroupObjectPermission, OrganizationUserObjectPermission

    codenames = [permission_codename(role) for role in roles]
    direct = OrganizationUserObjectPermission.objects.filter(
        user=user, permission__codename__in=codenames
    ).values("content_object_id")
    via_group = OrganizationGroupObjectPermission.objects.filter(
        group__user=user, permission__codename__in=codenames
    ).values("content_object_id")
    return direct, via_group


def granted_site_ids(user, roles):
    """Subqueries: sites where ``user`` holds one of ``roles`` (a site-narrowed grant)."""
    from .models import SiteGroupObjectPermission, SiteUserObjectPermission

    codenames = [permission_codename(role) for role in roles]
    direct = SiteUserObjectPermission.objects.filter(
        user=user, permission__codename__in=codenames
    ).values("content_object_id")
    via_group = SiteGroupObjectPermission.objects.filter(
        group__user=user, permission__codename__in=codenames
    ).values("content_object_id")
    return direct, via_group


def access_q(user, model, action):
    """A ``Q`` selecting the rows of ``model`` that ``user`` may ``action``; ``None`` for nobody."""
    if not _is_principal(user):
        return None
    from .models import Site

    roles = allowed_roles(model, action)
    if not roles:
        return None
    org_path = model.tenant_lookup
    site_path = getattr(model, "site_lookup", None)
    org_direct, org_group = granted_organization_ids(user, roles)
    site_direct, site_group = granted_site_ids(user, roles)
    q = Q(**{f"{org_path}__in": org_direct}) | Q(**{f"{org_path}__in": org_group})
    if site_path:
        q |= Q(**{f"{site_path}__in": site_direct}) | Q(**{f"{site_path}__in": site_group})
    elif action == "view":
        site_orgs = Site.objects.filter(Q(pk__in=site_direct) | Q(pk__in=site_group)).values(
            "organization_id"
        )
        q |= Q(**{f"{org_path}__in": site_orgs})
    return q


def restrict_queryset(queryset, user, action="view"):
    q = access_q(user, queryset.model, action)
    if q is None:
        return queryset.none()
    return queryset.filter(q)


def has_access(user, obj, action):
    """True when ``obj`` is within ``user``'s reach for ``action``."""
    model = type(obj)
    return model._default_manager.restrict(user, action).filter(pk=obj.pk).exists()


def ensure_permitted(user, action, obj):
    """Raise ``NotPermitted`` unless ``user`` may ``action`` ``obj``."""
    if not has_access(user, obj, action):
        raise NotPermitted(f"You may not {action} this {type(obj)._meta.verbose_name}.")


def roles_in(user, organization, site=None):
    """The roles ``user`` holds in ``organization`` (organization-wide, or on ``site``)."""
    if not _is_principal(user):
        return set()
    from .models import (
        OrganizationGroupObjectPermission,
        OrganizationUserObjectPermission,
        SiteGroupObjectPermission,
        SiteUserObjectPermission,
    )

    def codes(qs):
        return {c.removeprefix("role_") for c in qs.values_list("permission__codename", flat=True)}

    roles = codes(
        OrganizationUserObjectPermission.objects.filter(user=user, content_object=organization)
    ) | codes(
        OrganizationGroupObjectPermission.objects.filter(
            group__user=user, content_object=organization
        )
    )
    if site is not None:
        roles |= codes(SiteUserObjectPermission.objects.filter(user=user, content_object=site))
        roles |= codes(
            SiteGroupObjectPermission.objects.filter(group__user=user, content_object=site)
        )
    return roles


def ensure_can_create(user, model, organization, site=None):
    """Raise ``NotPermitted`` unless ``user`` may add a ``model`` row in ``organization``/``site``.

    A site-narrowed role counts only for rows that belong to one of its sites.
    """
    roles = allowed_roles(model, "add")
    held = roles_in(user, organization, site if getattr(model, "site_lookup", None) else None)
    if not held & set(roles):
        raise NotPermitted(f"You may not add a {model._meta.verbose_name} here.")


def all_roles_of(user):
    """Every role ``user`` holds anywhere (organization-wide or on a site), directly or through
    a group -- the same grants ``access_q`` and ``roles_in`` count."""
    if not _is_principal(user):
        return set()
    from .models import (
        OrganizationGroupObjectPermission,
        OrganizationUserObjectPermission,
        SiteGroupObjectPermission,
        SiteUserObjectPermission,
    )

    queries = [
        model.objects.filter(**{owner: user}, permission__codename__startswith="role_").values_list(
            "permission__codename", flat=True
        )
        for model, owner in (
            (OrganizationUserObjectPermission, "user"),
            (OrganizationGroupObjectPermission, "group__user"),
            (SiteUserObjectPermission, "user"),
            (SiteGroupObjectPermission, "group__user"),
        )
    ]
    found = queries[0].union(*queries[1:])  # one query; UNION removes the duplicates
    return {c.removeprefix("role_") for c in found}
