"""API permissions. Row-level reach is ``restrict()``; these only gate the request as a whole."""

from rest_framework import permissions

from encompass.tenancy.access import has_access

ACTION_FOR_METHOD = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


class IsMember(permissions.BasePermission):
    """Signed in (session with TOTP where required, or an active API key).

    Object-level: the object was found through ``restrict(user, 'view')`` (else 404); a write
    additionally needs the action's roles (else 403, since the caller can already see it).
    """

    message = "You do not have permission to do this."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)

    def has_object_permission(self, request, view, obj):
        action = getattr(view, "object_action", None) or ACTION_FOR_METHOD.get(request.method)
        if action == "view":
            return True
        return has_access(request.user, obj, action)
