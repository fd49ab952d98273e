from django.urls import path

from . import views, vulnerability_views

app_name = "risk_ui"

urlpatterns = [
    path("", views.register, name="register"),
    path("heatmap/", views.heatmap, name="heatmap"),
    path("risks/new/", views.risk_form, name="risk_new"),
    path("risks/<int:pk>/", views.risk_detail, name="risk"),
    path("risks/<int:pk>/edit/", views.risk_form, name="risk_edit"),
    path("risks/<int:pk>/<slug:name>/", views.risk_action, name="risk_action"),
    path("mitigations/<int:pk>/status/", views.mitigation_status, name="mitigation_status"),
    path("vulnerabilities/", vulnerability_views.vulnerability_list, name="vulnerabilities"),
    path(
        "vulnerabilities/import/",
        vulnerability_views.vulnerability_import,
        name="vulnerability_import",
    ),
    path(
        "vulnerabilities/<int:pk>/", vulnerability_views.vulnerability_detail, name="vulnerability"
    ),
    path("export.csv", views.export_csv, name="export_csv"),
    path("report/", views.report, name="report"),
    path("report.pdf", views.report_pdf, name="report_pdf"),
]
