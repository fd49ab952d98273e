from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("certificate-authorities", views.CertificateAuthorityViewSet)
router.register("certificates", views.DeviceCertificateViewSet)
router.register("enrollment-tokens", views.EnrollmentTokenViewSet)
router.register("identity-policies", views.IdentityPolicyViewSet)

urlpatterns = router.urls
