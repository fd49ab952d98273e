from django.urls import path

from . import device_views as v

urlpatterns = [
    path("update", v.UpdateManifestView.as_view(), name="firmware-manifest"),
    path("update/key", v.ManifestKeyView.as_view(), name="firmware-manifest-key"),
    path("update/status", v.UpdateStatusView.as_view(), name="firmware-update-status"),
    path("update/artifact/<int:release_id>", v.ArtifactView.as_view(), name="firmware-artifact"),
]
