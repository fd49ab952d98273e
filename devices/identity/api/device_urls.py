from django.urls import path

from . import device_views

urlpatterns = [
    path("enroll", device_views.EnrollView.as_view(), name="device-enroll"),
    path("certificate/renew", device_views.RenewView.as_view(), name="device-certificate-renew"),
]
