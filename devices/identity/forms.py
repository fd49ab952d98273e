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
