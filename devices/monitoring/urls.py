from django.urls import path

from . import views

app_name = "monitoring_ui"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("alerts/", views.AlertListView.as_view(), name="alerts"),
    path("alerts/bulk/", views.alert_bulk, name="alert_bulk"),
    path("alerts/<int:pk>/<str:verb>/", views.alert_action, name="alert_action"),
    path("devices/<int:pk>/", views.DeviceLiveView.as_view(), name="device"),
    path("counts/", views.counts, name="counts"),
]
