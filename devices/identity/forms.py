from django import forms

from devices.models import Device

from .services.tokens import ENROLLABLE_STATES


class EnrollmentTokenForm(forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.none())
    ttl_hours = forms.FloatField(
        label="Valid for (hours)", min_value=0.1, max_value=24 * 90, required=False
    )
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, user, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = (
            Device.objects.restrict(user, "view")
            .filter(organization=organization, state__in=ENROLLABLE_STATES)
            .order_by("name")
        )


class DeclareCompromiseForm(forms.Form):
    """What happened, and the CA's name typed again: the emergency path cannot be undone."""

    note = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What happened (it goes into the audit trail and every revocation).",
    )
    confirm_name = forms.CharField(
        label="Type the CA's name to confirm", max_length=200, strip=True
    )

    def __init__(self, *args, authority, **kwargs):
        super().__init__(*args, **kwargs)
        self.authority = authority

    def clean_confirm_name(self):
        value = self.cleaned_data["confirm_name"]
        if value != self.authority.name:
            raise forms.ValidationError(f"Type {self.authority.name!r} exactly.")
        return value
