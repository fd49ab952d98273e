"""Forms shared by the web UI and the admin: each one's cleaned data is a service's arguments."""

from django import forms
from django.utils import timezone

from encompass.tenancy.models import Organization, Site

from .choices import ChecklistItem, DisposalMethod, LifecycleState, RetentionDecision, WipeMethod
from .imports import COLUMNS


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=LifecycleState.choices, label="New state")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Recorded in the history.",
    )

    def __init__(self, *args, targets=None, **kwargs):
        super().__init__(*args, **kwargs)
        if targets is not None:
            self.fields["to"].choices = [(t, LifecycleState(t).label) for t in targets]


class MoveForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none())
    reason = forms.CharField(max_length=2000, required=False)

    def __init__(self, *args, user=None, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        sites = Site.objects.restrict(user, "view")
        if organization is not None:
            sites = sites.filter(organization=organization)
        self.fields["site"].queryset = sites.select_related("organization")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, initial="Decommissioning")


class DataWipeForm(forms.Form):
    method = forms.ChoiceField(choices=WipeMethod.choices)
    attested_by = forms.CharField(max_length=200, help_text="Who wiped it and vouches for it.")
    wiped_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), initial=timezone.localdate
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class RetentionForm(forms.Form):
    decision = forms.ChoiceField(choices=RetentionDecision.choices)
    justification = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class DisposalForm(forms.Form):
    method = forms.ChoiceField(choices=DisposalMethod.choices)
    certificate_reference = forms.CharField(
        max_length=200, help_text="Certificate of destruction / recycling reference."
    )
    handled_by = forms.CharField(max_length=200, help_text="Company or person that took it.")
    disposed_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), initial=timezone.localdate
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


CHECKLIST_FORMS = {
    ChecklistItem.CREDENTIALS: ReasonForm,
    ChecklistItem.ROLLOUTS: ReasonForm,
    ChecklistItem.DATA_WIPE: DataWipeForm,
    ChecklistItem.RETENTION: RetentionForm,
    ChecklistItem.DISPOSAL: DisposalForm,
}


def checklist_rows(checklist, roles):
    """The checklist's items for a page: each with an empty form and whether ``roles`` may do it."""
    from .choices import CHECKLIST_ROLES

    if checklist is None:
        return []
    rows = []
    for row in checklist.items():
        item = ChecklistItem(row["key"])
        row["form"] = CHECKLIST_FORMS[item](prefix=item.value)
        row["may"] = bool(roles & CHECKLIST_ROLES[item])
        rows.append(row)
    return rows


def checklist_arguments(form):
    """The service keyword arguments of a valid checklist form (empty optional dates dropped)."""
    return {k: v for k, v in form.cleaned_data.items() if v is not None}


class ImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    file = forms.FileField(help_text=f"CSV with a header line. Columns: {', '.join(COLUMNS)}.")
    dry_run = forms.BooleanField(required=False, initial=True, label="Check only (dry run)")

    def __init__(self, *args, user=None, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.restrict(user, "view")
        if organization is not None:
            self.fields["organization"].initial = organization.pk
