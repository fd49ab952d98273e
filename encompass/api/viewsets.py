"""Declarative viewsets over tenant models: restricted reads, service-backed writes."""

from django.db import models
from rest_framework import mixins, viewsets

from encompass.tenancy import crud


def split_m2m(model, data):
    """Separate many-to-many values (set after save) from plain field values."""
    m2m_names = {f.name for f in model._meta.many_to_many}
    plain = {k: v for k, v in data.items() if k not in m2m_names}
    m2m = {k: v for k, v in data.items() if k in m2m_names}
    return plain, m2m


class RestrictedViewSetMixin:
    """Narrows ``queryset`` with ``restrict(user, 'view')``: what is not visible is a 404.

    ``object_action`` names the ``role_permissions`` action an object-level request needs
    (``IsMember`` reads it); ``None`` means "from the HTTP method". A domain action sets it per
    route: ``@action(detail=True, methods=["post"], object_action="transition")``.
    """

    object_action = None

    def get_queryset(self):
        qs = super().get_queryset()
        return qs.restrict(self.request.user, "view")


class TenantReadOnlyViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class TenantViewSet(RestrictedViewSetMixin, viewsets.ModelViewSet):
    """CRUD through the generic services; override ``perform_*`` to call a domain service."""

    def perform_create(self, serializer):
        model = serializer.Meta.model
        plain, m2m = split_m2m(model, serializer.validated_data)
        serializer.instance = crud.create_object(model, plain, actor=self.request.user, m2m=m2m)

    def perform_update(self, serializer):
        model = serializer.Meta.model
        plain, m2m = split_m2m(model, serializer.validated_data)
        serializer.instance = crud.update_object(
            serializer.instance, plain, actor=self.request.user, m2m=m2m
        )

    def perform_destroy(self, instance):
        try:
            crud.delete_object(instance, actor=self.request.user)
        except models.ProtectedError as exc:
            from rest_framework.exceptions import ValidationError

            raise ValidationError(
                {
                    "detail": f"In use by {len(exc.protected_objects)} other record(s); "
                    "remove those first."
                }
            ) from exc


class CreateListRetrieveViewSet(
    RestrictedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    pass
