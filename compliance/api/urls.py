from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("compliance/frameworks", views.FrameworkViewSet, basename="compliance-framework")
router.register(
    "compliance/requirements", views.RequirementViewSet, basename="compliance-requirement"
)
router.register("compliance/mappings", views.MappingViewSet, basename="compliance-mapping")
router.register("compliance/assessments", views.AssessmentViewSet, basename="compliance-assessment")
router.register("compliance/results", views.ResultViewSet, basename="compliance-result")
router.register("compliance/evidence", views.EvidenceViewSet, basename="compliance-evidence")
router.register("compliance/checks", views.CheckViewSet, basename="compliance-check")
router.register("compliance/check-runs", views.CheckRunViewSet, basename="compliance-check-run")
router.register("compliance/scores", views.ScoreSnapshotViewSet, basename="compliance-score")

urlpatterns = router.urls
