"""Turn service exceptions into clear API answers.

Django's ``ValidationError`` from a service becomes 400 with the field-named messages;
``NotPermitted`` 403; a missing object (or one outside the caller's reach) 404. A body over the
documented limit is 413; too many form fields or files, or a malformed multipart body, 400
(Django raises those as ``SuspiciousOperation``, which would otherwise be a bodiless 400).
"""

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from .parsers import RequestTooLarge


def _as_detail(error):
    if hasattr(error, "error_dict"):
        return {
            field: [str(m) for e in errs for m in e.messages]
            for field, errs in error.error_dict.items()
        }
    return {"detail": error.messages if len(error.messages) > 1 else error.messages[0]}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_as_detail(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, SuspiciousOperation):  # e.g. a malformed multipart body
        exc = exceptions.ParseError(f"Malformed request: {exc}")
    return drf_exception_handler(exc, context)
