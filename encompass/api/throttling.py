"""Throttle repeated authentication failures per client address (API keys, device credentials)."""

from django.conf import settings
from django.core.cache import cache
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
    """After N failures within the window from one address, refuse further attempts."""

    scope = "auth_failure"

    def __init__(self):
        rates = api_settings.DEFAULT_THROTTLE_RATES or settings.REST_FRAMEWORK.get(
            "DEFAULT_THROTTLE_RATES", {}
        )
        self.limit, self.window = _parse_rate(rates.get(self.scope, "20/min"))

    def _key(self, request):
        return f"encompass:authfail:{self.scope}:{client_ip(request)}"

    def is_blocked(self, request):
        return cache.get(self._key(request), 0) >= self.limit

    def wait_seconds(self, request):
        return self.window

    def record_failure(self, request):
        key = self._key(request)
        if cache.add(key, 1, self.window):
            return
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, self.window)
