from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("device-types", views.DeviceTypeViewSet, basename="device-type")
router.register("tags", views.TagViewSet, basename="tag")
router.register("devices", views.DeviceViewSet, basename="device")

urlpatterns = [
    path("inventory/", views.InventoryView.as_view(), name="device-inventory"),
    *router.urls,
]
