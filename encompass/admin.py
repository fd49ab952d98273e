"""Base classes for a tenant-scoped Django admin.

* ``get_queryset`` goes through ``restrict(user, 'view')``; change / delete permissions through
  ``restrict(user, 'change' | 'delete')`` -- a global model permission never crosses a tenant.
* Foreign-key and many-to-many choices are restricted the same way, and so is every
  ``list_filter`` on a related field (``TenantRelatedFieldListFilter``): a filter never lists
  another organization's rows.
* Saves and deletes go through the generic services (``encompass.tenancy.crud``) so the admin
  audits and publishes like every other surface; domain models override ``save_model`` /
  actions to call their own services.
* Staff see the admin only for what their memberships reach; being ``is_staff`` gives no rows.
"""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.shortcuts import redirect

from encompass.tenancy import crud
from encompass.tenancy.access import all_roles_of, allowed_roles, has_access
from encompass.tenancy.models import Organization, RestrictedQuerySet
from encompass.web.pagination import CappedPaginator


class EncompassAdminSite(admin.AdminSite):
    """The staff back office: only active members of an organization get in.

    ``is_staff`` alone (or ``is_superuser``) opens nothing: what a member sees is what their
    memberships reach through ``restrict()``. Sign-in goes through the web UI's form, so the
    second factor and the audit of (failed) sign-ins apply here too.
    """

    site_header = "Encompass administration"
    site_title = "Encompass"
    index_title = "Fleet, identity, incidents, risk and compliance"

    def has_permission(self, request):
        user = request.user
        if not (user.is_active and user.is_staff) or hasattr(user, "api_key"):
            return False
        from encompass.tenancy.models import Membership

        return Membership.objects.filter(user=user).exists()

    def login(self, request, extra_context=None):
        target = request.GET.get("next") or request.get_full_path()
        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied("You are not a member of any organization.")
        return redirect(f"/account/sign-in/?{urlencode({'next': target})}")


def roles_of_request(request):
    """Every role the signed-in user holds anywhere.

    The admin asks every registered ModelAdmin for its permissions on every page (the sidebar and
    the index); the request's grant cache (``encompass.tenancy.grants``) reads them once.
    """
    return frozenset(all_roles_of(request.user))


def _restricted(qs, user, action="view"):
    if isinstance(qs, RestrictedQuerySet):
        return qs.restrict(user, action)
    if qs.model is get_user_model():
        # People are not tenant rows: a user is within reach as a member of an organization
        # (or site) within reach. Without this an "owner" choice lists every tenant's users.
        from encompass.tenancy.models import Membership

        return qs.filter(pk__in=Membership.objects.restrict(user, "view").values("user_id"))
    return qs


class TenantRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A "By <related field>" filter offering only the related rows within the user's reach.

    Django's ``RelatedFieldListFilter`` lists every row of the related model (every
    organization's sites, authorities, ...). Here a related model with ``restrict`` offers what
    ``restrict(user, 'view')`` lets through; any other related model (users, the shared
    catalogue without ``restrict``) offers only the rows the admin's own restricted queryset
    refers to, as ``RelatedOnlyFieldListFilter`` does.
    """

    def field_choices(self, field, request, model_admin):
        manager = field.related_model._default_manager
        if hasattr(manager, "restrict"):
            reach = manager.restrict(request.user, "view").values("pk")
        else:
            reach = (
                model_admin.get_queryset(request)
                .exclude(**{f"{self.field_path}__isnull": True})
                .values(f"{self.field_path}__pk")
            )
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False, limit_choices_to={"pk__in": reach}, ordering=ordering
        )


def tenant_list_filter(model, item):
    """``item`` of a ``list_filter``, with a related-field filter replaced by the tenant one.

    Plain field names that end on a relation, and ``(name, RelatedFieldListFilter)`` pairs,
    become ``(name, TenantRelatedFieldListFilter)``; ``RelatedOnlyFieldListFilter`` (already
    limited to the restricted queryset), other filter classes and plain fields stay as they are.
    """
    if isinstance(item, str):
        field = get_fields_from_path(model, item)[-1]
        return (item, TenantRelatedFieldListFilter) if field.is_relation else item
    if isinstance(item, (tuple, list)) and item[1] is admin.RelatedFieldListFilter:
        return (item[0], TenantRelatedFieldListFilter)
    return item


class TenantAdmin(admin.ModelAdmin):
    """A ModelAdmin over a tenant model (one with ``objects.restrict``)."""

    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over the whole table on every page
    paginator = CappedPaginator  # and the filtered count stops at CappedPaginator.cap rows

    def get_queryset(self, request):
        return _restricted(super().get_queryset(request), request.user, "view")

    def get_list_filter(self, request):
        return [tenant_list_filter(self.model, item) for item in super().get_list_filter(request)]

    def _roles_allow(self, request, action):
        return bool(roles_of_request(request) & set(allowed_roles(self.model, action)))

    def has_module_permission(self, request):
        return request.user.is_active and self._roles_allow(request, "view")

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return self._roles_allow(request, "view")
        return has_access(request.user, obj, "view")

    def has_add_permission(self, request):
        return self._roles_allow(request, "add")

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return self._roles_allow(request, "change")
        return has_access(request.user, obj, "change")

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return self._roles_allow(request, "delete")
        return has_access(request.user, obj, "delete")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            if db_field.related_model is Organization:
                field.queryset = Organization.objects.restrict(request.user, "view")
            else:
                field.queryset = _restricted(field.queryset, request.user, "view")
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _restricted(field.queryset, request.user, "view")
        return field

    # --- writes through the services ---------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._refusal_as_message(
            request, super().changeform_view, request, object_id, form_url, extra_context
        )

    def delete_view(self, request, object_id, extra_context=None):
        return self._refusal_as_message(
            request, super().delete_view, request, object_id, extra_context
        )

    def _refusal_as_message(self, request, view, *args):
        """A service that refuses a save or a delete (``ValidationError``) is shown as an error
        message on the same page, never a server error; its transaction was rolled back."""
        try:
            return view(*args)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            return redirect(request.get_full_path())

    def _form_data(self, form, obj):
        data = {}
        m2m = {}
        for name in form.changed_data if obj.pk else form.cleaned_data:
            field = (
                obj._meta.get_field(name)
                if name in {f.name for f in obj._meta.get_fields()}
                else None
            )
            if field is None or not getattr(field, "concrete", False):
                continue
            if field.many_to_many:
                m2m[name] = form.cleaned_data[name]
            else:
                data[name] = form.cleaned_data[name]
        return data, m2m

    def save_model(self, request, obj, form, change):
        data, m2m = self._form_data(form, obj)
        if change:
            saved = crud.update_object(obj, data, actor=request.user, m2m=m2m)
        else:
            saved = crud.create_object(type(obj), data, actor=request.user, m2m=m2m)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # Many-to-many values were set by the service; only inline formsets remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        crud.delete_object(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            crud.delete_object(obj, actor=request.user)

    def run_service(self, request, func, objects, success, **kwargs):
        """Call ``func(obj, actor=user, **kwargs)`` for each object; report each refusal by name.

        Admin bulk actions use this so a refusal for one row is shown and the others go ahead.
        """
        done = 0
        for obj in objects:
            try:
                func(obj, actor=request.user, **kwargs)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{obj}: {text}", messages.ERROR)
        if done:
            self.message_user(request, success.format(count=done), messages.SUCCESS)
        return done


class ReadOnlyTenantAdmin(TenantAdmin):
    """For records only services write (history, events, audit): browse and filter only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


__all__ = [
    "EncompassAdminSite",
    "ReadOnlyTenantAdmin",
    "TenantAdmin",
    "TenantRelatedFieldListFilter",
    "models",
    "roles_of_request",
    "tenant_list_filter",
]
