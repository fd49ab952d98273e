from .identity import SsoIdentity
from .provider import GroupRoleMapping, IdentityProvider

__all__ = ["GroupRoleMapping", "IdentityProvider", "SsoIdentity"]
