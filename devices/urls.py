from django.urls import path

from . import views

app_name = "devices_ui"

urlpatterns = [
    path("", views.DeviceListView.as_view(), name="list"),
    path("bulk/", views.bulk, name="bulk"),
    path("import/", views.import_csv, name="import"),
    path("inventory/", views.inventory_view, name="inventory"),
    path("<int:pk>/", views.DeviceDetailView.as_view(), name="detail"),
    path("<int:pk>/history.pdf", views.history_pdf, name="history_pdf"),
    path("<int:pk>/transition/", views.transition, name="transition"),
    path("<int:pk>/move/", views.move, name="move"),
    path("<int:pk>/token/", views.rotate_token, name="token"),
    path("<int:pk>/checklist/<slug:item>/", views.checklist_item, name="checklist"),
]
