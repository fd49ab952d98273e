from django.urls import path

from . import rotation_views, views

app_name = "identity_ui"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("authorities/<int:pk>/", views.authority_detail, name="authority"),
    path(
        "authorities/<int:pk>/rotation/",
        rotation_views.authority_rotation,
        name="authority-rotation",
    ),
    path(
        "authorities/<int:pk>/compromise/",
        rotation_views.authority_compromise,
        name="authority-compromise",
    ),
    path("enrollment-tokens/new/", views.new_enrollment_token, name="token-new"),
]
