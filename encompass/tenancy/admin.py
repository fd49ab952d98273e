"""Admin for tenancy: organizations and sites (with guardian's object-permission screens for the
organization's Admins), memberships and API keys -- every write through the tenancy services."""

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils import timezone
from guardian.admin import (
    AdminGroupObjectPermissionsForm,
    AdminUserObjectPermissionsForm,
    GuardedModelAdminMixin,
)

from encompass.admin import TenantAdmin
from encompass.tenancy import invitations, services
from encompass.tenancy.access import has_access
from encompass.tenancy.models import (
    ApiKey,
    InvitationStatus,
    Membership,
    MembershipInvitation,
    Organization,
    Site,
)
from encompass.tenancy.roles import Role, permission_codename

User = get_user_model()
ROLE_CODENAMES = {permission_codename(role) for role in Role.values}


# --- guardian's object-permission screens, audited and limited to role permissions ---------------


class _RoleChoicesMixin:
    """Offer only the ``role_*`` permissions, and save through ``set_object_roles`` (audited)."""

    actor = None

    def get_obj_perms_field_choices(self):
        return [(c, n) for c, n in super().get_obj_perms_field_choices() if c in ROLE_CODENAMES]

    def get_obj_perms_field_initial(self):
        return [c for c in super().get_obj_perms_field_initial() if c in ROLE_CODENAMES]


class RoleUserPermissionsForm(_RoleChoicesMixin, AdminUserObjectPermissionsForm):
    def save_obj_perms(self):
        codenames = self.cleaned_data[self.get_obj_perms_field_name()]
        services.set_object_roles(self.obj, self.user, codenames, actor=self.actor)


class RoleGroupPermissionsForm(_RoleChoicesMixin, AdminGroupObjectPermissionsForm):
    def save_obj_perms(self):
        services.set_object_roles(
            self.obj,
            self.group,
            self.cleaned_data[self.get_obj_perms_field_name()],
            actor=self.actor,
        )


class GrantScreensMixin(GuardedModelAdminMixin):
    """Guardian's "Object permissions" screens, for the owning organization's Admins only."""

    change_form_template = "admin/tenancy/grants_change_form.html"

    def organization_of(self, obj):
        return obj if isinstance(obj, Organization) else obj.organization

    def may_manage_grants(self, request, obj):
        return has_access(request.user, self.organization_of(obj), "manage_members")

    def _grant_object(self, request, object_pk):
        obj = self.get_queryset(request).filter(pk=object_pk).first()
        if obj is None or not self.may_manage_grants(request, obj):
            raise Http404("No such object.")  # missing and forbidden answer the same
        return obj

    def obj_perms_manage_view(self, request, object_pk):
        self._grant_object(request, object_pk)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        self._grant_object(request, object_pk)
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        self._grant_object(request, object_pk)
        return super().obj_perms_manage_group_view(request, object_pk, group_id)

    def _bound(self, form_class, request):
        return type(form_class.__name__, (form_class,), {"actor": request.user})

    def get_obj_perms_manage_user_form(self, request):
        return self._bound(RoleUserPermissionsForm, request)

    def get_obj_perms_manage_group_form(self, request):
        return self._bound(RoleGroupPermissionsForm, request)

    def has_change_permission(self, request, obj=None):
        # Guardian's views ask with obj=None; TenantAdmin answers from the role table.
        return super().has_change_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["may_manage_grants"] = obj is not None and self.may_manage_grants(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)


# --- organizations and sites ----------------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(GrantScreensMixin, TenantAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["slug", "created_at", "updated_at"]
    fields = ["name", "slug", "description", "created_at", "updated_at"]


@admin.register(Site)
class SiteAdmin(GrantScreensMixin, TenantAdmin):
    list_display = ["name", "slug", "organization", "time_zone"]
    list_filter = ["organization"]
    search_fields = ["name", "slug", "address"]
    list_select_related = ["organization"]
    fields = ["organization", "name", "slug", "address", "time_zone", "latitude", "longitude"]


# --- memberships ----------------------------------------------------------------------------------


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["organization", "role", "sites"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A role that may only view gets a form whose fields the admin made read-only: the
        # field is not there then (issue 27: this once answered 500 for every membership).
        if "organization" in self.fields:
            self.fields["organization"].disabled = True


@admin.register(Membership)
class MembershipAdmin(TenantAdmin):
    """Members change role or leave here; they join by accepting an invitation (below)."""

    form = MembershipForm
    list_display = ["user", "organization", "role", "scope"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "user__last_name"]
    list_select_related = ["user", "organization"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("sites")

    def has_add_permission(self, request):
        return False  # an Admin invites (Membership invitations); the user accepts

    @admin.display(description="Scope")
    def scope(self, obj):
        names = [s.name for s in obj.sites.all()]
        return ", ".join(names) if names else "Whole organization"

    def get_fields(self, request, obj=None):
        return ["organization", "role", "sites"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = services.change_membership(
            obj, role=data["role"], sites=list(data["sites"]), actor=request.user
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # the service set the sites

    def delete_model(self, request, obj):
        services.remove_membership(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            services.remove_membership(membership, actor=request.user)


class InvitationForm(forms.ModelForm):
    class Meta:
        model = MembershipInvitation
        fields = ["organization", "username", "role", "sites"]
        help_texts = {
            "username": "The user you invite sees the invitation when signed in and joins by "
            "accepting it. The answer is the same whether or not the username exists."
        }


@admin.register(MembershipInvitation)
class MembershipInvitationAdmin(TenantAdmin):
    form = InvitationForm
    list_display = ["username", "organization", "role", "status", "expires_at", "invited_by"]
    list_filter = ["status", "role", "organization"]
    search_fields = ["username"]
    list_select_related = ["organization", "invited_by"]
    actions = ["revoke_selected"]

    def has_change_permission(self, request, obj=None):
        return False  # an invitation is made, accepted, declined or revoked -- never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = invitations.invite_member(
            organization=data["organization"],
            username=data["username"],
            role=data["role"],
            sites=list(data["sites"]),
            actor=request.user,
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # the service set the sites

    @admin.action(description="Revoke the selected pending invitations")
    def revoke_selected(self, request, queryset):
        done = 0
        for invitation in queryset.filter(status=InvitationStatus.PENDING):
            invitations.revoke_invitation(invitation, actor=request.user)
            done += 1
        self.message_user(request, f"Revoked {done} invitation(s).", messages.SUCCESS)


# --- API keys -------------------------------------------------------------------------------------


class ApiKeyCreateForm(forms.ModelForm):
    days = forms.IntegerField(
        min_value=1, initial=90, help_text="How long the key lives (the platform sets a maximum)."
    )

    class Meta:
        model = ApiKey
        fields = ["organization", "name", "role"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantAdmin):
    list_display = [
        "name",
        "organization",
        "role",
        "key_prefix",
        "status",
        "expires_at",
        "last_used_at",
    ]
    list_filter = ["role", "suspended", "organization"]
    search_fields = ["name", "prefix"]
    list_select_related = ["organization"]
    actions = ["revoke_keys", "suspend_keys", "resume_keys"]
    readonly_fields = [
        "organization",
        "name",
        "role",
        "key_prefix",
        "status",
        "expires_at",
        "revoked_at",
        "revoked_reason",
        "suspended",
        "last_used_at",
        "last_used_ip",
        "created_by",
        "created_at",
    ]

    @admin.display(description="Key")
    def key_prefix(self, obj):
        return f"enc_{obj.prefix}_…"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else ["organization", "name", "role", "days"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def has_change_permission(self, request, obj=None):
        return False  # keys are not edited: revoke, suspend or resume them

    def has_delete_permission(self, request, obj=None):
        return False  # a key's record stays for the audit trail; revoke it instead

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        key, plaintext = services.create_api_key(
            organization=data["organization"],
            name=data["name"],
            role=data["role"],
            expires_at=timezone.now() + datetime.timedelta(days=data["days"]),
            actor=request.user,
        )
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"The key for {key.name} is {plaintext} — copy it now: it is shown only this once "
            "and stored only as a hash.",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request, queryset):
        self.run_service(
            request, services.revoke_api_key, queryset, "{count} key(s) revoked.", reason="admin"
        )

    @admin.action(description="Suspend selected API keys")
    def suspend_keys(self, request, queryset):
        self.run_service(
            request,
            lambda key, **kw: services.set_api_key_suspended(key, True, **kw),
            queryset,
            "{count} key(s) suspended.",
        )

    @admin.action(description="Resume selected API keys")
    def resume_keys(self, request, queryset):
        self.run_service(
            request,
            lambda key, **kw: services.set_api_key_suspended(key, False, **kw),
            queryset,
            "{count} key(s) resumed.",
        )
