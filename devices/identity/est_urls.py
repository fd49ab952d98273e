"""EST (RFC 7030), mounted at /.well-known/est/ by encompass/urls.py."""

from django.urls import path

from . import est_views

app_name = "est"

_operations = [
    ("cacerts", est_views.CaCertsView),
    ("simpleenroll", est_views.SimpleEnrollView),
    ("simplereenroll", est_views.SimpleReenrollView),
    ("csrattrs", est_views.CsrAttrsView),
]

urlpatterns = [
    *[path(name, view.as_view(), name=name) for name, view in _operations],
    *[
        path(f"<slug:label>/{name}", view.as_view(), name=f"{name}-label")
        for name, view in _operations
    ],
]
