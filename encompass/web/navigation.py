"""The web UI's navigation, assembled from what each app registers in its ``AppConfig.ready``.

Apps own their menu entries, so adding a section never means editing a shared template::

    from encompass.web.navigation import register
    register("Devices", "devices_ui:list", order=10)
"""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    order: int = 50
    roles: frozenset | None = None  # None: every member

    def url(self):
        try:
            return reverse(self.url_name)
        except NoReverseMatch:
            return None


_items: dict[str, NavItem] = {}


def register(label, url_name, *, order=50, roles=None):
    _items[url_name] = NavItem(label, url_name, order, frozenset(roles) if roles else None)


def items_for(user_roles):
    visible = []
    for item in sorted(_items.values(), key=lambda i: (i.order, i.label)):
        if item.roles is not None and not (item.roles & user_roles):
            continue
        url = item.url()
        if url:
            visible.append({"label": item.label, "url": url, "url_name": item.url_name})
    return visible
