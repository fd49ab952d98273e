from django.urls import path

from . import views

app_name = "identity_ui"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("authorities/<int:pk>/", views.authority_detail, name="authority"),
    path("enrollment-tokens/new/", views.new_enrollment_token, name="token-new"),
]
