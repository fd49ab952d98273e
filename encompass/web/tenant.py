"""The organization a web session is looking at (chosen with the switcher, kept in the session)."""

from encompass.tenancy.models import Organization

SESSION_KEY = "encompass_organization"


def organizations_of(user):
    return Organization.objects.restrict(user, "view").order_by("name")


def current_organization(request, orgs=None):
    orgs = list(orgs) if orgs is not None else list(organizations_of(request.user))
    if not orgs:
        return None
    chosen = request.session.get(SESSION_KEY)
    for org in orgs:
        if org.pk == chosen:
            return org
    return orgs[0]


def set_current_organization(request, org):
    request.session[SESSION_KEY] = org.pk
