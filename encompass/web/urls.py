from django.contrib.auth import views as auth_views
from django.urls import path

from . import account, password_reset, views
from .forms import SignInForm

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("overview/", views.overview, name="overview"),
    path(
        "account/sign-in/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=SignInForm
        ),
        name="login",
    ),
    path("account/sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/two-factor/", views.two_factor, name="two_factor"),
    path(
        "account/password-reset/",
        password_reset.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "account/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "account/password-reset/<uidb64>/<token>/",
        password_reset.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "account/password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # Not under /account/: accepting a role needs the second factor like any other page.
    path("invitations/", account.invitation_list, name="invitations"),
    path(
        "invitations/<int:pk>/",
        account.invitation_respond,
        name="invitation_respond",
    ),
    path("organization/switch/", views.switch_organization, name="switch_organization"),
]
