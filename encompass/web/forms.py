from django import forms
from django.contrib.auth.forms import AuthenticationForm


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Authenticator code",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self):
        token = self.cleaned_data["token"].strip().replace(" ", "")
        if not token.isdigit():
            raise forms.ValidationError("Enter the digits your authenticator app shows.")
        return token


class SignInForm(AuthenticationForm):
    """Django's sign-in form; a member of an organization that requires single sign-on is refused
    a password sign-in (unless they are one of its break-glass Admins, docs/sso.md)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "sso_required": "%(reason)s",
    }

    sso_refusal = ""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        from encompass.audit.security import organizations_of_user, record_auth_failure
        from encompass.sso.services import password_sign_in_refusal

        reason = password_sign_in_refusal(user)
        if reason:
            self.sso_refusal = reason
            record_auth_failure(
                "auth.sign_in_failed",
                method="password",
                reason="single sign-on required",
                actor=f"anonymous:{user.get_username()}",
                object_repr=user.get_username(),
                organizations=organizations_of_user(user),
            )
            raise forms.ValidationError(
                self.error_messages["sso_required"], code="sso_required", params={"reason": reason}
            )
