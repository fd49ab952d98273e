"""Request-body parsers for the staff API: the documented limits, enforced before parsing.

* A body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``ENCOMPASS_MAX_REQUEST_BYTES``, 5 MiB)
  is refused with 413 before a byte of it is parsed (file parts of a multipart upload are not
  counted, as in Django: they stream to disk and have their own limits).
* JSON must be UTF-8 (RFC 8259), nested at most ``MAX_JSON_DEPTH`` levels, without NaN or
  Infinity, and no string (key or value) may hold a control character: the C0 and C1 controls
  other than tab, line feed and carriage return, lone surrogates, or the bidirectional
  embedding / override / isolate controls that make text read differently from what it is.
* Form and multipart fields obey the same text rules.

Every refusal is a 4xx that says what was wrong and where; nothing is stored.
"""

import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import QueryDict
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError, ValidationError

MAX_JSON_DEPTH = 64


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit=None):
        from django.conf import settings

        limit = limit if limit is not None else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(
            f"The request body is larger than {limit} bytes (ENCOMPASS_MAX_REQUEST_BYTES); "
            "nothing was read or stored."
        )


# C0 controls except \t \n \r; DEL and the C1 controls; UTF-16 surrogates (only ever lone ones
# in a Python str); bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
FORBIDDEN_TEXT = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]"
)


def forbidden_character(text):
    """The first forbidden character of ``text`` as ``U+XXXX``, or None."""
    found = FORBIDDEN_TEXT.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def text_error(where, code_point):
    return (
        f"{where} contains the control character {code_point}; send plain text "
        "(tab, line feed and carriage return are the only controls allowed)."
    )


def body_limit():
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def declared_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


def read_bounded(stream, request):
    """The body, or 413 when it is (or says it is) over the limit -- checked before parsing."""
    limit = body_limit()
    if limit is None:
        return stream.read()
    if declared_length(request) > limit:
        raise RequestTooLarge(limit)
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise RequestTooLarge(limit)
    return raw


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def check_json(data):
    """Walk the parsed document without recursion: depth and text rules.

    Raises ``ValidationError`` keyed by the top-level field, naming the exact path.
    """
    stack = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels (at {path}).")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    code_point = forbidden_character(key)
                    if code_point:
                        _raise_text(path, f"the key {key!r}", code_point)
                    child = f"{path}.{key}" if path else key
                else:
                    child = f"{path}[{key}]"
                stack.append((item, depth + 1, child))
        elif isinstance(value, str):
            code_point = forbidden_character(value)
            if code_point:
                _raise_text(path, path or "the body", code_point)


def _raise_text(path, where, code_point):
    field = re.split(r"[.\[]", path, maxsplit=1)[0] or "non_field_errors"
    raise ValidationError({field: [text_error(where, code_point)]})


def check_fields(data):
    """Form / multipart fields: the same text rules as JSON strings."""
    for key, values in data.lists():
        for value in [key, *values]:
            if isinstance(value, str):
                code_point = forbidden_character(value)
                if code_point:
                    raise ValidationError({key: [text_error(key, code_point)]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {})["request"]
        raw = read_bounded(stream, request)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"The body is not valid UTF-8 (byte {exc.start}).") from exc
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        check_json(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {})["request"]
        raw = read_bounded(stream, request)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"The form is not valid UTF-8 (byte {exc.start}).") from exc
        try:
            data = QueryDict(text)
        except TooManyFieldsSent as exc:
            raise ParseError(
                f"Too many form fields (at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS})."
            ) from exc
        check_fields(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            result = super().parse(stream, media_type, parser_context)
        except RequestDataTooBig as exc:
            raise RequestTooLarge(body_limit()) from exc
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        check_fields(result.data)
        return result
