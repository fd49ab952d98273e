"""What every page of the shell needs: navigation, the current organization, the switcher."""

from encompass.tenancy.access import all_roles_of
from encompass.tenancy.mfa import needs_second_factor

from .navigation import items_for
from .tenant import current_organization, organizations_of


def shell(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if needs_second_factor(request, user):
        # Nothing about the tenant (names, navigation) before the second factor is given.
        return {"second_factor_pending": True}
    orgs = list(organizations_of(user))
    organization = current_organization(request, orgs)
    return {
        "nav_items": items_for(all_roles_of(user), user=user, organization=organization),
        "current_organization": organization,
        "my_organizations": orgs,
        "second_factor_pending": False,
    }
