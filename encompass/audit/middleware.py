"""Attach the request's origin (client address, user agent, request id) to the audit context."""

import ipaddress
import re
import uuid

from django.conf import settings

from .context import RequestContext, use_context


def client_ip(request):
    """The client address; ``X-Forwarded-For`` is believed only from a trusted proxy."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = settings.ENCOMPASS["TRUSTED_PROXIES"]
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if remote and forwarded and remote in trusted:
        candidate = forwarded.split(",")[0].strip()
        try:
            ipaddress.ip_address(candidate)
            return candidate
        except ValueError:
            return remote
    return remote


# A client's request id is kept when it is a plain token: letters, digits and ``-._:`` (UUIDs in any
# of their usual spellings, ULIDs, ``trace-id:span-id``), at most 64 characters (the audit column).
# Anything else (spaces, quotes, control characters, header-injection attempts) is replaced.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def request_id_from(incoming):
    return incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def channel_for(path):
    if path.startswith("/api/device/"):
        return "device"
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "web"


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = request_id_from(incoming)
        ctx = RequestContext(
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
            request_id=request_id,
            channel=channel_for(request.path),
        )
        with use_context(ctx):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
