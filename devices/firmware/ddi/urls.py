"""hawkBit DDI v1 routes, mounted at ``/<tenant>/controller/v1/`` (see encompass/urls.py)."""

from django.urls import path, re_path

from . import views as v

urlpatterns = [
    path("<str:controller_id>", v.ControllerBaseView.as_view(), name="ddi-base"),
    path(
        "<str:controller_id>/deploymentBase/<str:action_id>",
        v.DeploymentBaseView.as_view(),
        name="ddi-deployment",
    ),
    path(
        "<str:controller_id>/deploymentBase/<str:action_id>/feedback",
        v.DeploymentFeedbackView.as_view(),
        name="ddi-deployment-feedback",
    ),
    path(
        "<str:controller_id>/installedBase/<str:action_id>",
        v.InstalledBaseView.as_view(),
        name="ddi-installed",
    ),
    path(
        "<str:controller_id>/cancelAction/<str:action_id>",
        v.CancelActionView.as_view(),
        name="ddi-cancel",
    ),
    path(
        "<str:controller_id>/cancelAction/<str:action_id>/feedback",
        v.CancelFeedbackView.as_view(),
        name="ddi-cancel-feedback",
    ),
    path("<str:controller_id>/configData", v.ConfigDataView.as_view(), name="ddi-config"),
    re_path(
        r"^(?P<controller_id>[^/]+)/softwaremodules/(?P<module_id>[^/]+)/artifacts/"
        r"(?P<filename>[^/]+)\.MD5SUM$",
        v.ArtifactMD5View.as_view(),
        name="ddi-artifact-md5",
    ),
    path(
        "<str:controller_id>/softwaremodules/<str:module_id>/artifacts/<str:filename>",
        v.ArtifactView.as_view(),
        name="ddi-artifact",
    ),
]
