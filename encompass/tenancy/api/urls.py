from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("organizations", views.OrganizationViewSet)
router.register("sites", views.SiteViewSet)
router.register("memberships", views.MembershipViewSet)
router.register("membership-invitations", views.MembershipInvitationViewSet)
router.register("api-keys", views.ApiKeyViewSet)

urlpatterns = router.urls
