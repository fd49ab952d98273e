"""The OpenAPI schema class: what drf-spectacular infers, made true for every operation.

* Component names are unique: two serializers of one class name in different apps (a firmware
  ``NoteSerializer`` takes ``note``, an incident one ``text``) used to share one component, so
  one of them was documented with the other's fields. Such names get their app as a prefix
  (``FirmwareNote``, ``IncidentsNote``); unique names stay as they are.
* The error answers every operation can give are documented (``docs/api.md`` "Errors"): 400
  (validation, bad query string), 401, 403, 404 (missing or outside your reach; also a stale
  pagination cursor), 429, and 413 for operations with a body.
* The two ways to authenticate are documented as security schemes (bearer API key, session).
* A read-only field whose source crosses a nullable relation (``device.uid`` of an event
  without a device, the ``assignee`` of an unassigned incident) is documented as nullable.
* Detail actions (``devices/{id}/history/``) answer plain lists, and are documented so.
"""

import functools

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

PROJECT_PACKAGES = ("encompass.", "devices.", "compliance.", "incidents.", "risk.")
ERROR_BODY = {
    "type": "object",
    "description": '{"detail": "..."} or {"<field>": ["message", ...]}',
    "additionalProperties": {},
}
ERRORS = {
    "400": "Invalid input: nothing was changed; the body names the field.",
    "401": "No credentials, or a bad, expired, suspended or revoked API key.",
    "403": "You can see this, but your role may not do it.",
    "404": "Missing, or outside your reach (the same answer).",
    "429": "Too many failed authentications from your address.",
}
BODY_TOO_LARGE = {"413": "The body is larger than ENCOMPASS_MAX_REQUEST_BYTES."}


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


@functools.cache
def colliding_names():
    """Serializer class names that more than one of our serializer classes carries."""
    seen = {}
    for cls in _all_subclasses(serializers.BaseSerializer):
        if cls.__module__.startswith(PROJECT_PACKAGES):
            seen.setdefault(cls.__name__, set()).add(f"{cls.__module__}.{cls.__qualname__}")
    return frozenset(name for name, classes in seen.items() if len(classes) > 1)


def app_prefix(module):
    parts = [p for p in module.split(".") if p not in {"encompass", "api", "serializers", "views"}]
    return parts[-1].capitalize() if parts else ""


def crosses_nullable_relation(field):
    """True when ``field``'s source walks through a nullable foreign key of the model."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    for attr in getattr(field, "source_attrs", None) or []:
        if model is None:
            return False
        try:
            model_field = model._meta.get_field(attr)
        except Exception:
            return False
        if getattr(model_field, "null", False):
            return True
        model = getattr(model_field, "related_model", None)
    return False


class AutoSchema(openapi.AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "response"
            and field.read_only
            and "$ref" not in schema
            and crosses_nullable_relation(field)
        ):
            schema["nullable"] = True
        return schema

    def _get_paginator(self):
        if getattr(self.view, "detail", False):
            return None  # a detail action's list is answered whole
        return super()._get_paginator()

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        if name in colliding_names():
            return app_prefix(type(serializer).__module__) + name
        return name

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(ERRORS)
        if self.method in ("POST", "PUT", "PATCH"):
            errors.update(BODY_TOO_LARGE)
        for code, description in errors.items():
            responses.setdefault(
                code,
                {
                    "description": description,
                    "content": {"application/json": {"schema": ERROR_BODY}},
                },
            )
        return responses


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "encompass.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "enc_<prefix>_<secret>"}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "encompass.api.authentication.VerifiedSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
