from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet)
router.register("incident-tasks", views.IncidentTaskViewSet)
router.register("containment-actions", views.ContainmentActionViewSet)
router.register("playbooks", views.PlaybookViewSet)
router.register("playbook-tasks", views.PlaybookTaskViewSet)
router.register("sla-policies", views.SlaPolicyViewSet)
router.register("sla-breaches", views.SlaBreachViewSet)
router.register("escalation-rules", views.EscalationRuleViewSet)

urlpatterns = router.urls
