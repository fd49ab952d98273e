"""URL map. Each app owns its routes; see DESIGN.md "Interfaces"."""

from importlib import import_module
from importlib.util import find_spec

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views
from .api.device_schema import device_schema_view


def _optional(module):
    """Include an app's URL module when it exists (apps add theirs as they grow)."""
    try:
        if find_spec(module) is None:
            return False
    except ModuleNotFoundError as exc:  # a parent package does not exist yet
        if exc.name and module.startswith(exc.name):
            return False
        raise
    return hasattr(import_module(module), "urlpatterns")


# Staff / integration REST API modules, mounted under /api/v1/.
API_URLCONFS = [
    "encompass.tenancy.api.urls",
    "encompass.audit.api.urls",
    "encompass.events.api.urls",
    "encompass.webhooks.api.urls",
    "devices.api.urls",
    "devices.identity.api.urls",
    "devices.firmware.api.urls",
    "devices.monitoring.api.urls",
    "incidents.api.urls",
    "risk.api.urls",
    "compliance.api.urls",
]
# Device API modules, mounted under /api/device/v1/.
DEVICE_API_URLCONFS = [
    "devices.identity.api.device_urls",
    "devices.monitoring.api.device_urls",
    "devices.firmware.api.device_urls",
]
# Web UI modules: (prefix, module).
UI_URLCONFS = [
    ("devices/", "devices.urls"),
    ("identity/", "devices.identity.urls"),
    ("firmware/", "devices.firmware.urls"),
    ("monitoring/", "devices.monitoring.urls"),
    ("incidents/", "incidents.urls"),
    ("risk/", "risk.urls"),
    ("compliance/", "compliance.urls"),
    ("pki/", "devices.identity.pki_urls"),
    (".well-known/est/", "devices.identity.est_urls"),
]

api_v1 = [path("", include(m)) for m in API_URLCONFS if _optional(m)]
device_v1 = [path("", include(m)) for m in DEVICE_API_URLCONFS if _optional(m)]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/device/v1/", include(device_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/device/schema/", device_schema_view, name="device-schema"),
    path(
        # The split view serves Swagger UI's start-up script as a file (no inline script: CSP).
        "api/schema/swagger/",
        SpectacularSwaggerSplitView.as_view(url_name="schema"),
        name="swagger-ui",
    ),
    # hawkBit DDI v1 for SWUpdate / RAUC: /<organization slug>/controller/v1/<device uid>/...
    path("<slug:tenant>/controller/v1/", include("devices.firmware.ddi.urls")),
    *[path(prefix, include(m)) for prefix, m in UI_URLCONFS if _optional(m)],
    path("", include("encompass.sso.urls")),
    path("", include("encompass.web.urls")),
]
