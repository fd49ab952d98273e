from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("risk/assets", views.AssetViewSet, basename="risk-asset")
router.register("risk/threats", views.ThreatViewSet, basename="risk-threat")
router.register("risk/vulnerabilities", views.VulnerabilityViewSet, basename="risk-vulnerability")
router.register("risk/matrices", views.RiskMatrixViewSet, basename="risk-matrix")
router.register("risk/risks", views.RiskViewSet, basename="risk")
router.register("risk/mitigations", views.MitigationViewSet, basename="risk-mitigation")

urlpatterns = router.urls
