"""The OpenAPI schema of what devices call, apart from the staff API: the native device API
(``/api/device/v1/``) and hawkBit DDI v1 (``/{tenant}/controller/v1/{controllerId}``), served at
``/api/device/schema/`` so device makers can generate clients from it."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView

DEVICE_SCHEMA_SETTINGS = {
    "TITLE": "Encompass device API",
    "DESCRIPTION": (
        "What devices and gateways call. The native protocol under /api/device/v1/ (event "
        "batches, enrollment, certificate renewal, signed update manifests and status reports), "
        "authenticated with the client certificate (mutual TLS at the proxy) or "
        "`Authorization: Device dtk_...`; and Eclipse hawkBit's Direct Device Integration API v1 "
        "at /{tenant}/controller/v1/{controllerId} (tenant = organization slug, controllerId = "
        "device uid) for SWUpdate, RAUC and other hawkBit clients, authenticated with "
        "`Authorization: TargetToken dtk_...`, `Authorization: GatewayToken gwt_...` or the "
        "client certificate. See docs/updates.md."
    ),
    "VERSION": "1",
}


class DeviceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "devices.authentication.DeviceAuthentication"
    name = "DeviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Device dtk_<prefix>_<secret>` (or the client certificate, mutual "
            "TLS terminated at the trusted proxy).",
        }


class DDIScheme(OpenApiAuthenticationExtension):
    target_class = "devices.firmware.ddi.auth.DDIAuthentication"
    name = ["TargetToken", "GatewayToken"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`TargetToken dtk_<prefix>_<secret>`: the device's own token.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`GatewayToken gwt_<prefix>_<secret>`: an organization's "
                "gateway token, good for each of its devices.",
            },
        ]


device_schema_view = SpectacularAPIView.as_view(
    urlconf="encompass.api.device_schema_urls", custom_settings=DEVICE_SCHEMA_SETTINGS
)
