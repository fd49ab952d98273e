from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("alert-rules", views.AlertRuleViewSet, basename="alert-rule")
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = router.urls
