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
