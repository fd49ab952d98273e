"""Template tags that ask the role check before a button is drawn.

``{% load access %}`` then::

    {% may "acknowledge" alert as can_ack %}{% if can_ack %}<button>...{% endif %}
    {% may "change" "devices.Device" as can_edit %}           {# in the current organization #}
    {% may "transition" device site=device.site as can_move %}
    {% can_create "devices.Device" as can_add %}
    {% can_create "devices.Device" site=site as can_add_here %}
    {% can_create "devices.Device" organization=org as can_add_there %}

Both read the request's user and, for a model label, the switcher's ``current_organization``
(put in every page by ``encompass.web.context_processors.shell``). See docs/web-ui.md.
"""

from django import template

from encompass.web.permits import permits

register = template.Library()


def _user(context):
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


def _organization(context, organization):
    if organization is not None:
        return organization
    return context.get("current_organization") or context.get("organization")


@register.simple_tag(takes_context=True)
def may(context, action, target, organization=None, site=None):
    """True when the user's roles allow ``action`` on ``target`` (an object, a model or a
    ``"app.Model"`` label)."""
    return permits(
        _user(context), action, target, organization=_organization(context, organization), site=site
    )


@register.simple_tag(takes_context=True)
def can_create(context, target, organization=None, site=None):
    """True when the user may add a ``target`` row in the organization (on ``site``)."""
    return permits(
        _user(context), "add", target, organization=_organization(context, organization), site=site
    )
