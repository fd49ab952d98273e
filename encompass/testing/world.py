"""A two-tenant world: organizations A and B, two sites each, one user per role in each, and a
technician narrowed to one site of A. Tests assert what each can and cannot reach."""

from dataclasses import dataclass, field

from encompass.tenancy.roles import Role

from .factories import make_member, make_org, make_site


@dataclass
class Tenant:
    org: object
    sites: list
    users: dict = field(default_factory=dict)  # role value -> user

    def user(self, role):
        return self.users[Role(role).value]


@dataclass
class World:
    a: Tenant
    b: Tenant
    site_technician: object  # technician in A narrowed to a.sites[0]
    outsider: object  # signed-in user with no membership anywhere


def build_world():
    """Build the world in a handful of bulk queries.

    The rows are exactly what ``add_membership`` writes (memberships, their site narrowing and
    the guardian ``role_*`` grants behind them) but without the audit entries and events of the
    set-up itself: every API-contract test builds a world, so this is the suite's hottest path.
    ``tests/foundation/test_world.py`` proves it grants the same reach as the services.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from encompass.tenancy.models import (
        Membership,
        Organization,
        OrganizationUserObjectPermission,
        Site,
        SiteUserObjectPermission,
    )
    from encompass.tenancy.roles import permission_codename

    User = get_user_model()
    orgs = Organization.objects.bulk_create(
        [Organization(name=f"Tenant {x.upper()}", slug=f"tenant-{x}") for x in ("a", "b")]
    )
    sites = Site.objects.bulk_create(
        [
            Site(organization=org, name=f"{x.upper()} site {i}", slug=f"{x}-site-{i}")
            for org, x in zip(orgs, ("a", "b"), strict=True)
            for i in (1, 2)
        ]
    )
    unusable = make_password(None)
    members = [
        (org, x, role) for org, x in zip(orgs, ("a", "b"), strict=True) for role in Role.values
    ]
    names = [f"{x}-{role}" for _org, x, role in members] + ["a-site-technician"]
    users = User.objects.bulk_create(
        [
            User(username=n, email=f"{n}@example.test", password=unusable, is_staff=True)
            for n in names
        ]
        + [User(username="outsider", email="outsider@example.test", password=unusable)]
    )
    by_name = {u.username: u for u in users}
    tech = by_name["a-site-technician"]
    memberships = Membership.objects.bulk_create(
        [
            Membership(organization=org, user=by_name[f"{x}-{role}"], role=role)
            for org, x, role in members
        ]
        + [Membership(organization=orgs[0], user=tech, role=Role.TECHNICIAN)]
    )
    memberships[-1].sites.set([sites[0]])
    perms = {
        (p.content_type.model, p.codename): p
        for p in Permission.objects.filter(
            codename__startswith="role_",
            content_type__in=ContentType.objects.get_for_models(Organization, Site).values(),
        ).select_related("content_type")
    }
    OrganizationUserObjectPermission.objects.bulk_create(
        [
            OrganizationUserObjectPermission(
                user=by_name[f"{x}-{role}"],
                content_object=org,
                permission=perms[("organization", permission_codename(role))],
            )
            for org, x, role in members
        ]
    )
    SiteUserObjectPermission.objects.create(
        user=tech,
        content_object=sites[0],
        permission=perms[("site", permission_codename(Role.TECHNICIAN))],
    )
    tenants = []
    for index, (org, x) in enumerate(zip(orgs, ("a", "b"), strict=True)):
        tenant = Tenant(org=org, sites=sites[index * 2 : index * 2 + 2])
        tenant.users = {role: by_name[f"{x}-{role}"] for role in Role.values}
        tenants.append(tenant)
    return World(a=tenants[0], b=tenants[1], site_technician=tech, outsider=by_name["outsider"])


def build_world_through_services():
    """The same world with every row written by the tenancy services (slow; for one test)."""
    from .factories import make_user

    tenants = []
    for label in ("a", "b"):
        org = make_org(name=f"Tenant {label.upper()}", slug=f"tenant-{label}")
        sites = [
            make_site(org, name=f"{label.upper()} site {i}", slug=f"{label}-site-{i}")
            for i in (1, 2)
        ]
        tenant = Tenant(org=org, sites=sites)
        for role in Role.values:
            tenant.users[role] = make_member(org, role, username=f"{label}-{role}")
        tenants.append(tenant)
    a, b = tenants
    tech = make_member(a.org, Role.TECHNICIAN, sites=[a.sites[0]], username="a-site-technician")
    outsider = make_user(username="outsider")
    return World(a=a, b=b, site_technician=tech, outsider=outsider)
