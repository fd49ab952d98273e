from .apikey import KEY_PREFIX, ApiKey, hash_secret
from .base import RestrictedManager, RestrictedQuerySet, TenantModel
from .invitation import InvitationStatus, MembershipInvitation
from .membership import Membership
from .organization import (
    Organization,
    OrganizationGroupObjectPermission,
    OrganizationUserObjectPermission,
    Site,
    SiteGroupObjectPermission,
    SiteUserObjectPermission,
)

__all__ = [
    "KEY_PREFIX",
    "ApiKey",
    "InvitationStatus",
    "Membership",
    "MembershipInvitation",
    "Organization",
    "OrganizationGroupObjectPermission",
    "OrganizationUserObjectPermission",
    "RestrictedManager",
    "RestrictedQuerySet",
    "Site",
    "SiteGroupObjectPermission",
    "SiteUserObjectPermission",
    "TenantModel",
    "hash_secret",
]
