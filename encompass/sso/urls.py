from django.urls import path

from . import views

app_name = "sso"

urlpatterns = [
    # Under /account/: reached before sign-in (the second-factor middleware leaves them alone).
    path("account/sso/", views.SsoStartView.as_view(), name="choose"),
    path("account/sso/callback/", views.SsoCallbackView.as_view(), name="callback"),
    path("account/sso/<slug:slug>/", views.SsoStartView.as_view(), name="start"),
    # The Admin's settings: a normal page (second factor required).
    path("organization/single-sign-on/", views.provider_settings, name="settings"),
]
