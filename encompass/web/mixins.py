"""Class-based web UI views over tenant data: sign-in required, ``restrict()`` on every read,
scoped to the organization chosen in the switcher."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ImproperlyConfigured
from django.views import generic

from .pagination import CappedPaginator
from .tenant import current_organization


class TenantMixin(LoginRequiredMixin):
    """Adds ``self.organization`` (the switcher's choice) and a restricted ``get_queryset``."""

    action = "view"
    scope_to_current_organization = True

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.organization = current_organization(request)
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        qs = super().get_queryset()
        if not hasattr(qs, "restrict"):
            raise ImproperlyConfigured(f"{qs.model.__name__} has no restrict(); not a tenant model")
        qs = qs.restrict(self.request.user, self.action)
        if self.scope_to_current_organization and self.organization is not None:
            qs = qs.filter(**{qs.model.tenant_lookup: self.organization.pk})
        return qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["organization"] = getattr(self, "organization", None)
        return context


class TenantListView(TenantMixin, generic.ListView):
    paginate_by = 50
    paginator_class = CappedPaginator  # no exact COUNT(*) of a large list on every page


class TenantDetailView(TenantMixin, generic.DetailView):
    """Missing and forbidden both answer 404."""

    scope_to_current_organization = False
