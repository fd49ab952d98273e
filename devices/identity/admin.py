"""The back office for identity: a thin shell over the identity services.

No private key is ever shown (the key store reference is not even listed); certificates are
revoked with RFC 5280 reasons through ``revoke_certificate``; tokens are created through the API
or the device page (the plaintext is shown once) and revoked here.
"""

from django.contrib import admin
from django.utils.html import format_html

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin

from . import services
from .choices import STATUS_COLOURS, CertificateStatus, RevocationReason
from .models import CertificateAuthority, DeviceCertificate, EnrollmentToken, IdentityPolicy


def _badge(status):
    return format_html(
        '<span class="enc-badge" data-css-colour="{}">{}</span>',
        STATUS_COLOURS[status],
        CertificateStatus(status).label,
    )


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "name",
        "organization",
        "kind",
        "source",
        "key_algorithm",
        "is_active",
        "not_after",
        "crl_number",
        "crl_next_update",
    ]
    list_filter = ["is_active", "kind", "source", "key_algorithm"]
    search_fields = ["name", "subject", "serial_hex", "fingerprint_sha256"]
    list_select_related = ["organization"]
    fields = [
        "organization",
        "name",
        "kind",
        "source",
        "key_algorithm",
        "subject",
        "serial_hex",
        "fingerprint_sha256",
        "not_before",
        "not_after",
        "is_active",
        "crl_number",
        "crl_this_update",
        "crl_next_update",
        "certificate_pem",
        "chain_pem",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["regenerate_crl", "make_issuing"]

    @admin.action(description="Re-sign the CRL now")
    def regenerate_crl(self, request, queryset):
        def run(ca, *, actor):
            from encompass.tenancy.access import ensure_permitted

            ensure_permitted(actor, "regenerate_crl", ca)
            services.regenerate_crl(ca, actor=actor)

        self.run_service(request, run, queryset, "Re-signed {count} CRL(s).")

    @admin.action(description="Make this the issuing CA")
    def make_issuing(self, request, queryset):
        self.run_service(
            request,
            services.activate_certificate_authority,
            queryset[:1],
            "{count} CA made the issuer.",
        )


def _revoke_action(reason):
    def action(modeladmin, request, queryset):
        modeladmin.run_service(
            request,
            services.revoke_certificate,
            queryset.select_related("organization", "device"),
            f"Revoked {{count}} certificate(s) ({RevocationReason(reason).label.lower()}).",
            reason_code=reason,
            note="Revoked in the admin.",
        )

    action.__name__ = f"revoke_{reason}"
    action.short_description = f"Revoke: {RevocationReason(reason).label.lower()}"
    return action


@admin.register(DeviceCertificate)
class DeviceCertificateAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "device",
        "serial_hex",
        "status_badge",
        "key_algorithm",
        "not_before",
        "not_after",
        "issued_via",
        "revocation_reason",
        "organization",
    ]
    list_filter = ["issued_via", "revocation_reason", "key_algorithm", "authority"]
    search_fields = ["serial_hex", "fingerprint_sha256", "device__uid", "device__name"]
    list_select_related = ["device", "organization"]
    date_hierarchy = "not_after"
    readonly_fields = [f.name for f in DeviceCertificate._meta.concrete_fields if f.name != "id"]
    actions = [
        _revoke_action(reason)
        for reason in (
            RevocationReason.KEY_COMPROMISE,
            RevocationReason.SUPERSEDED,
            RevocationReason.CESSATION_OF_OPERATION,
            RevocationReason.AFFILIATION_CHANGED,
            RevocationReason.PRIVILEGE_WITHDRAWN,
            RevocationReason.UNSPECIFIED,
        )
    ]

    @admin.display(description="Status")
    def status_badge(self, obj):
        return _badge(obj.status)

    def get_actions(self, request):
        from encompass.tenancy.access import all_roles_of, allowed_roles

        if not all_roles_of(request.user) & set(allowed_roles(DeviceCertificate, "revoke")):
            return {}
        return super().get_actions(request)


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(ReadOnlyTenantAdmin):
    list_display = ["__str__", "device", "status", "expires_at", "used_at", "revoked_at", "note"]
    search_fields = ["prefix", "device__uid", "device__name", "note"]
    list_select_related = ["device", "organization"]
    readonly_fields = [
        "organization",
        "device",
        "prefix",
        "expires_at",
        "used_at",
        "certificate",
        "revoked_at",
        "created_by",
        "note",
    ]
    exclude = ["token_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected unused tokens")
    def revoke(self, request, queryset):
        self.run_service(
            request, services.revoke_enrollment_token, queryset, "Revoked {count} token(s)."
        )


@admin.register(IdentityPolicy)
class IdentityPolicyAdmin(TenantAdmin):
    list_display = [
        "organization",
        "certificate_validity_days",
        "renewal_window_days",
        "renewal_overlap_days",
        "allowed_key_types",
        "min_rsa_bits",
        "revoke_on_quarantine",
        "quarantine_revocation_reason",
    ]
    list_select_related = ["organization"]
