"""The URLs the device schema (``encompass.api.device_schema``) describes: only device-facing
routes, mounted as in ``encompass.urls``."""

from django.urls import include, path

from encompass.urls import device_v1

urlpatterns = [
    path("api/device/v1/", include(device_v1)),
    path("<slug:tenant>/controller/v1/", include("devices.firmware.ddi.urls")),
]
