from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("events", views.EventViewSet, basename="event")
router.register("event-retention", views.RetentionPolicyViewSet, basename="event-retention")

urlpatterns = router.urls
