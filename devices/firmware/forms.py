"""Web UI forms."""

from django import forms

from devices.models import DeviceType


class UploadForm(forms.Form):
    device_types = forms.ModelMultipleChoiceField(queryset=DeviceType.objects.none())
    version = forms.CharField(max_length=64)
    security_version = forms.IntegerField(min_value=0)
    artifact = forms.FileField()
    signature = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Base64 Ed25519 signature of the release statement (docs/updates.md).",
    )
    release_notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    cves_fixed = forms.CharField(required=False, help_text="Comma-separated CVE ids.")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False)
