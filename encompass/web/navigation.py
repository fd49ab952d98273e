"""The web UI's navigation, assembled from what each app registers in its ``AppConfig.ready``.

Apps own their menu entries, so adding a section never means editing a shared template::

    from encompass.web.navigation import register
    register("Devices", "devices_ui:list", order=10)
    register("Members", "members_ui:list", order=80, permission=("tenancy.Membership", "add"))

An entry with ``permission=(model label, action)`` is shown only to whom ``permits`` allows that
action in the current organization (the same role check the page's service makes); ``roles``
narrows it to members holding one of those roles anywhere.
"""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    order: int = 50
    roles: frozenset | None = None  # None: every member
    permission: tuple | None = None  # (model label, action) asked in the current organization

    def url(self):
        try:
            return reverse(self.url_name)
        except NoReverseMatch:
            return None


_items: dict[str, NavItem] = {}


def register(label, url_name, *, order=50, roles=None, permission=None):
    _items[url_name] = NavItem(
        label, url_name, order, frozenset(roles) if roles else None, permission
    )


def items_for(user_roles, *, user=None, organization=None):
    from .permits import permits

    visible = []
    for item in sorted(_items.values(), key=lambda i: (i.order, i.label)):
        if item.roles is not None and not (item.roles & user_roles):
            continue
        if item.permission is not None:
            model, action = item.permission
            if not permits(user, action, model, organization=organization):
                continue
        url = item.url()
        if url:
            visible.append({"label": item.label, "url": url, "url_name": item.url_name})
    return visible
