"""Web UI forms. They only parse input; the services validate and write."""

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from devices.models import Device

from .choices import EFFECTIVE_STATUS_CHOICES, MitigationStatus, Treatment
from .models import Asset, Threat, Vulnerability
from .services.common import members_of

User = get_user_model()


def apply_service_errors(form, exc):
    """Put a service's field-named ``ValidationError`` on the form (unknown fields: non-field)."""
    for field, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class RegisterFilterForm(forms.Form):
    level = forms.ChoiceField(required=False)
    treatment = forms.ChoiceField(required=False, choices=[("", "Any"), *Treatment.choices])
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *EFFECTIVE_STATUS_CHOICES])
    owner = forms.ModelChoiceField(
        required=False, queryset=User.objects.none(), empty_label="Anyone"
    )
    overdue = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("true", "Overdue"), ("false", "Not overdue")]
    )
    q = forms.CharField(required=False, label="Search")

    def __init__(self, *args, organization=None, matrix=None, **kwargs):
        super().__init__(*args, **kwargs)
        levels = matrix.levels if matrix is not None else []
        self.fields["level"].choices = [("", "Any")] + [(lv["code"], lv["label"]) for lv in levels]
        if organization is not None:
            self.fields["owner"].queryset = members_of(organization)


class RiskForm(forms.Form):
    title = forms.CharField(max_length=200)
    scenario = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    source = forms.CharField(max_length=200, required=False)
    inherent_likelihood = forms.TypedChoiceField(coerce=int, label="Likelihood")
    inherent_impact = forms.TypedChoiceField(coerce=int, label="Impact")
    current_controls = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    treatment = forms.ChoiceField(choices=Treatment.choices)
    review_due_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    assets = forms.ModelMultipleChoiceField(queryset=Asset.objects.none(), required=False)
    threats = forms.ModelMultipleChoiceField(queryset=Threat.objects.none(), required=False)
    vulnerabilities = forms.ModelMultipleChoiceField(
        queryset=Vulnerability.objects.none(), required=False
    )

    def __init__(self, *args, organization, matrix, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["inherent_likelihood"].choices = [
            (x["value"], f"{x['value']} · {x['label']}") for x in matrix.likelihood_levels
        ]
        self.fields["inherent_impact"].choices = [
            (x["value"], f"{x['value']} · {x['label']}") for x in matrix.impact_levels
        ]
        self.fields["owner"].queryset = members_of(organization)
        self.fields["assets"].queryset = Asset.objects.restrict(user).filter(
            organization=organization
        )
        self.fields["threats"].queryset = Threat.objects.restrict(user).filter(
            Q(organization=organization) | Q(organization__isnull=True)
        )
        self.fields["vulnerabilities"].queryset = Vulnerability.objects.restrict(user).filter(
            organization=organization
        )


class ResidualForm(forms.Form):
    likelihood = forms.TypedChoiceField(coerce=int)
    impact = forms.TypedChoiceField(coerce=int)
    current_controls = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, matrix, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["likelihood"].choices = [
            (x["value"], f"{x['value']} · {x['label']}") for x in matrix.likelihood_levels
        ]
        self.fields["impact"].choices = [
            (x["value"], f"{x['value']} · {x['label']}") for x in matrix.impact_levels
        ]


class AcceptForm(forms.Form):
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    expires_at = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Until")


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class ReviewForm(forms.Form):
    next_review_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(required=False)


class MitigationForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    due_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    devices = forms.ModelMultipleChoiceField(queryset=Device.objects.none(), required=False)
    requirement_refs = forms.CharField(
        required=False,
        label="Compliance requirements",
        help_text='Space-separated "framework:ref", e.g. etsi-en-303-645:5.3-2',
    )

    def __init__(self, *args, organization, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = members_of(organization)
        self.fields["devices"].queryset = Device.objects.restrict(user).filter(
            organization=organization
        )

    def clean_requirement_refs(self):
        return self.cleaned_data["requirement_refs"].split()


class MitigationStatusForm(forms.Form):
    status = forms.ChoiceField(choices=MitigationStatus.choices)
    note = forms.CharField(required=False)


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSON (list of objects) or CSV; see docs/risk.md")
    ignore_unknown_device_types = forms.BooleanField(
        required=False, help_text="Skip ranges for device types you do not have (listed)."
    )
