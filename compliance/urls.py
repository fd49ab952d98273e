from django.urls import path

from . import views

app_name = "compliance_ui"

urlpatterns = [
    path("", views.scorecard, name="scorecard"),
    path("scorecard.json", views.scorecard_json, name="scorecard_json"),
    path("checks/", views.checks, name="checks"),
    path("checks/run/", views.run_checks_now, name="run_checks"),
    path("check-runs/<int:pk>/", views.check_run, name="check_run"),
    path("requirements/<int:pk>/", views.result_detail, name="result"),
    path("assessments/<int:pk>/", views.assessment_detail, name="assessment"),
    path("results/<int:pk>/", views.set_result, name="set_result"),
    path("assessments/<int:pk>/evidence/", views.add_evidence, name="add_evidence"),
    path("assessments/<int:pk>/report/<str:kind>/", views.report, name="report"),
    path("assessments/<int:pk>/export/<str:kind>.<str:fmt>", views.export, name="export"),
]
