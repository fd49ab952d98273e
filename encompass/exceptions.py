"""Exceptions every service raises; the API and admin turn them into clear answers."""

from django.core.exceptions import PermissionDenied, ValidationError

__all__ = ["Conflict", "NotPermitted", "ValidationError"]


class NotPermitted(PermissionDenied):
    """The actor may not do this to this object (or the object is outside its tenant)."""


class Conflict(ValidationError):
    """The object changed under us (a concurrent write won); the caller may retry."""
