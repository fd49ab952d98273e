from rest_framework.routers import SimpleRouter

from ..ddi.api import GatewayTokenViewSet
from . import views
from .sbom import ComponentViewSet, DeviceSbomViewSet

router = SimpleRouter()
router.register("signing-keys", views.SigningKeyViewSet, basename="signingkey")
router.register("firmware-releases", views.FirmwareReleaseViewSet, basename="firmwarerelease")
router.register("rollouts", views.RolloutViewSet, basename="rollout")
router.register("device-updates", views.DeviceUpdateViewSet, basename="deviceupdate")
router.register("sbom-components", ComponentViewSet, basename="sbomcomponent")
router.register("device-sboms", DeviceSbomViewSet, basename="devicesbom")
router.register("ddi-gateway-tokens", GatewayTokenViewSet, basename="gatewaytoken")

urlpatterns = router.urls
