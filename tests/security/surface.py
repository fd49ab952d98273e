"""The attack surface, read from the URL configuration and the OpenAPI schema (drf-spectacular),
so that a new endpoint is probed without anyone remembering to add it.

``operations()`` lists every REST operation drf-spectacular documents, with the view that serves
it and the serializer it reads; ``undocumented_api_routes()`` lists what the URL configuration
serves under ``/api/`` that the schema does not (it must be exempt, with a reason).
``tenant_data.seed_tenant`` gives both tenants of the ``world`` fixture the rows the probes
point at.
"""

import functools
import re
from dataclasses import dataclass

from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import serializers

API_PREFIXES = ("/api/v1/", "/api/device/v1/")


@dataclass(frozen=True)
class Operation:
    path: str  # /api/v1/devices/{id}/
    method: str  # GET, POST ...
    operation_id: str
    view_class: type
    action: str | None  # viewset action (list, retrieve, transition ...)
    request_serializer: object  # class or instance, or None

    @property
    def key(self):
        return f"{self.method} {self.path}"

    @property
    def detail(self):
        return "{id}" in self.path or "{pk}" in self.path

    @property
    def model(self):
        queryset = getattr(self.view_class, "queryset", None)
        return queryset.model if queryset is not None else None

    @property
    def unsafe(self):
        return self.method not in ("GET", "HEAD", "OPTIONS")

    def url(self, pk=None, **params):
        url = self.path.replace("{id}", str(pk)).replace("{pk}", str(pk))
        for name, value in params.items():
            url = url.replace("{" + name + "}", str(value))
        return url


@functools.cache
def operations():
    """Every operation of the schema, in schema order (generated once per test session)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.settings import spectacular_settings

    generator = SchemaGenerator()
    generator._initialise_endpoints()
    found = []
    for path, path_regex, method, view in generator._get_paths_and_endpoints():
        view.request = spectacular_settings.GET_MOCK_REQUEST(method, path, view, None)
        operation = view.schema.get_operation(
            path, path_regex, "^/api/", method, generator.registry
        )
        if not operation:
            continue
        try:
            request_serializer = view.schema.get_request_serializer()
        except Exception:
            request_serializer = None
        found.append(
            Operation(
                path=path,
                method=method,
                operation_id=operation["operationId"],
                view_class=type(view),
                action=getattr(view, "action", None),
                request_serializer=request_serializer,
            )
        )
    return tuple(found)


def _walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def _normalise(route):
    """A URL pattern as a comparable path: ``^devices/(?P<pk>[^/.]+)/$`` -> ``devices/{}/``."""
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "{}", route)
    route = re.sub(r"<(?:\w+:)?\w+>", "{}", route)
    route = re.sub(r"\.\(\?P<format>[^)]*\)/?", "", route)
    return "/" + route.lstrip("/")


def undocumented_api_routes():
    """Routes the URL configuration serves under the API prefixes that no schema path matches."""
    documented = {re.sub(r"\{\w+\}", "{}", op.path) for op in operations()}
    missing = set()
    for route, _pattern in _walk(get_resolver().url_patterns):
        path = _normalise(route)
        if not path.startswith(API_PREFIXES) or "format" in route:
            continue
        if path not in documented:
            missing.add(path)
    return missing


# --- serializers: the related fields a request names ----------------------------------------


def serializer_instance(spec, context):
    if spec is None:
        return None
    if isinstance(spec, serializers.BaseSerializer):
        spec = type(spec)
    if isinstance(spec, type) and issubclass(spec, serializers.BaseSerializer):
        try:
            return spec(context=context)
        except TypeError:
            return None
    return None


def related_fields(serializer):
    """``{name: (model, many)}`` of the writable related fields whose model is tenant-scoped."""
    found = {}
    if serializer is None:
        return found
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        many = isinstance(field, serializers.ManyRelatedField)
        target = field.child_relation if many else field
        if not isinstance(target, serializers.PrimaryKeyRelatedField):
            continue
        queryset = target.queryset
        model = queryset.model if queryset is not None else None
        if is_tenant_model(model):
            found[name] = (model, many)
    return found


def row_of(model, organization, exclude=()):
    """A row of ``model`` in ``organization`` (through the model's tenant path), or None."""
    if not is_tenant_model(model):
        return None
    manager = model._default_manager
    return (
        manager.filter(**{model.tenant_lookup: organization.pk})
        .exclude(pk__in=list(exclude))
        .order_by("pk")
        .first()
    )


def missing_pk(model):
    last = model._default_manager.order_by("-pk").values_list("pk", flat=True).first() or 0
    return last + 10_000


def is_tenant_model(model):
    """A model whose rows belong to one organization (global catalogues have no lookup)."""
    return (
        isinstance(model, type)
        and issubclass(model, models.Model)
        and isinstance(getattr(model, "tenant_lookup", None), str)
    )
