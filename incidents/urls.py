from django.urls import path

from . import views

app_name = "incidents_ui"

urlpatterns = [
    path("", views.board, name="board"),
    path("declare/", views.declare, name="declare"),
    path("escalate/", views.escalate, name="escalate"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/phase/", views.change_phase, name="phase"),
    path("<int:pk>/contained/", views.record_containment, name="record_containment"),
    path("<int:pk>/note/", views.add_note, name="note"),
    path("<int:pk>/assign/", views.assign, name="assign"),
    path("<int:pk>/responders/", views.add_responder, name="add_responder"),
    path("<int:pk>/contain/", views.contain, name="contain"),
    path("<int:pk>/actions/<int:action_pk>/reverse/", views.reverse, name="reverse"),
    path("<int:pk>/playbook/", views.apply_playbook, name="apply_playbook"),
    path("<int:pk>/tasks/<int:task_pk>/", views.toggle_task, name="toggle_task"),
    path("<int:pk>/review/", views.save_review, name="review"),
    path("<int:pk>/follow-ups/", views.add_follow_up, name="follow_up"),
    path("<int:pk>/report/", views.report, name="report"),
]
