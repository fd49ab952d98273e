from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("webhook-endpoints", views.WebhookEndpointViewSet)
router.register("webhook-deliveries", views.WebhookDeliveryViewSet)

urlpatterns = router.urls
