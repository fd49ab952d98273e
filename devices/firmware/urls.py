from django.urls import path

from . import views

app_name = "firmware_ui"

urlpatterns = [
    path("", views.RolloutListView.as_view(), name="rollouts"),
    path("releases/", views.ReleaseListView.as_view(), name="releases"),
    path("releases/<int:pk>/", views.ReleaseDetailView.as_view(), name="release"),
    path("rollouts/<int:pk>/", views.RolloutDetailView.as_view(), name="rollout"),
    path(
        "rollouts/<int:pk>/progress.json",
        views.RolloutProgressView.as_view(),
        name="rollout_progress",
    ),
    path(
        "rollouts/<int:pk>/<slug:action>/", views.RolloutActionView.as_view(), name="rollout_action"
    ),
    path("devices/<int:pk>/", views.DeviceFirmwareView.as_view(), name="device"),
]
