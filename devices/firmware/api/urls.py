from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("signing-keys", views.SigningKeyViewSet, basename="signingkey")
router.register("firmware-releases", views.FirmwareReleaseViewSet, basename="firmwarerelease")
router.register("rollouts", views.RolloutViewSet, basename="rollout")
router.register("device-updates", views.DeviceUpdateViewSet, basename="deviceupdate")

urlpatterns = router.urls
