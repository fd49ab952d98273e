"""Throttle repeated authentication failures per client address (API keys, device credentials).

A credential that verifies is always accepted, whatever its address has been doing: API keys,
device tokens and enrollment tokens carry 256 random bits (``secrets.token_urlsafe(32)``) and
device certificates are verified cryptographically, so the throttle is not what stops a
guess -- the entropy is. What it does is refuse the *failing* traffic of an address that keeps
failing (429 with ``Retry-After`` instead of 401), so a misconfigured or hostile client is told
to back off, while every other integration or device behind the same NAT keeps working. Shutting
an address out altogether would let anyone there lock out every integration for nothing.

Counts live in the Django cache (one counter per scope and address, a fixed window from the
first failure), so whatever keeps the cache available keeps this available. See
docs/authentication.md.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.settings import api_settings

from encompass.audit.middleware import client_ip


def _parse_rate(rate):
    count, period = rate.split("/")
    seconds = {
        "s": 1,
        "sec": 1,
        "m": 60,
        "min": 60,
        "h": 3600,
        "hour": 3600,
        "d": 86400,
        "day": 86400,
    }[period]
    return int(count), seconds


class AuthFailureThrottle:
    """Counts an address's failed credentials; past N in the window its failures get 429."""

    scope = "auth_failure"

    def __init__(self, scope=None):
        if scope is not None:
            self.scope = scope
        rates = api_settings.DEFAULT_THROTTLE_RATES or settings.REST_FRAMEWORK.get(
            "DEFAULT_THROTTLE_RATES", {}
        )
        self.limit, self.window = _parse_rate(
            rates.get(self.scope) or rates.get("auth_failure") or "20/min"
        )

    def _key(self, request):
        return f"encompass:authfail:{self.scope}:{client_ip(request)}"

    def failures(self, request):
        return cache.get(self._key(request), 0)

    def is_blocked(self, request):
        """Whether the address has used up its failures for this window."""
        return self.failures(request) >= self.limit

    def wait_seconds(self, request):
        started = cache.get(f"{self._key(request)}:start")
        if started is None:
            return self.window
        return max(1, int(self.window - (time.time() - started)) + 1)

    def record_failure(self, request):
        """Count one failure; returns the address's failures in this window."""
        key = self._key(request)
        if cache.add(key, 1, self.window):
            cache.set(f"{key}:start", time.time(), self.window)
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, self.window)
            return 1

    def refuse(self, request, exc):
        """Count the failure; the exception to raise: ``exc``, or 429 once past the limit."""
        if self.record_failure(request) > self.limit:
            return exceptions.Throttled(
                wait=self.wait_seconds(request),
                detail="Too many failed credentials from this address; valid credentials are "
                "still accepted.",
            )
        return exc
