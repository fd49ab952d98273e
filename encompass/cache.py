"""The Redis cache, failing open: while Redis is unreachable, every read is a miss and every write
is dropped, so a Redis outage never turns a request into a 500.

What reads the cache is advisory: the auth-failure throttle (encompass/api/throttling.py), DRF's
rate throttles, small caches of derived data. Losing them for the length of an outage is the
right trade (docs/reliability.md): device ingest, the REST API and the web UI keep working, and
the throttles count again from zero when Redis is back.

How it fails open, and how fast:

* connection and timeout errors of the client (``redis.exceptions.ConnectionError``,
  ``TimeoutError``) are caught around each operation; ``incr`` of a key then raises
  ``ValueError`` as for a missing key, which callers already handle;
* short socket timeouts (``ENCOMPASS_CACHE_TIMEOUT``, 0.25 s by default) bound what one
  operation may cost when Redis hangs instead of refusing;
* after a failure the cache is not tried again for ``RETRY_AFTER`` seconds (a request that reads
  it three times pays for one timeout, not three, and the log gets one line);
* the failure is logged once per ``LOG_EVERY`` seconds, with how many operations failed open.

Other errors (a wrong command, a serialization bug) are not swallowed.
"""

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)
RETRY_AFTER = 1.0
LOG_EVERY = 30.0


class _Outage:
    """Shared by the cache objects of every thread: when Redis last failed, and the log's pace."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.logged_at = 0.0
        self.failed = 0

    def skipping(self):
        return time.monotonic() < self.down_until

    def failed_now(self, operation, exc):
        now = time.monotonic()
        with self.lock:
            self.down_until = now + RETRY_AFTER
            self.failed += 1
            if now - self.logged_at < LOG_EVERY:
                return
            self.logged_at, failed, self.failed = now, self.failed, 0
        logger.warning(
            "Redis cache unreachable (%s: %s); failing open: %d operation(s) answered as a miss",
            operation,
            exc,
            failed,
        )

    def recovered(self):
        if self.failed or self.down_until:
            with self.lock:
                self.down_until = 0.0


_outages = {}
_outages_lock = threading.Lock()


def _outage_for(location):
    with _outages_lock:
        return _outages.setdefault(location, _Outage())


def _fail_open(default=None, raise_missing=False):
    def wrap(method):
        name = method.__name__

        def guarded(self, *args, **kwargs):
            outage = self._outage
            if outage.skipping():
                if raise_missing:
                    raise ValueError(f"Key {args[0]!r} not found (Redis unreachable).")
                return default() if callable(default) else default
            try:
                result = method(self, *args, **kwargs)
            except OUTAGE_ERRORS as exc:
                outage.failed_now(name, exc)
                if raise_missing:
                    raise ValueError(f"Key {args[0]!r} not found (Redis unreachable).") from exc
                return default() if callable(default) else default
            outage.recovered()
            return result

        guarded.__name__ = name
        guarded.__doc__ = method.__doc__
        return guarded

    return wrap


class FailOpenRedisCache(RedisCache):
    """Django's ``RedisCache`` whose operations answer as a miss while Redis is unreachable."""

    def __init__(self, server, params):
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        options.setdefault("socket_connect_timeout", 0.25)
        options.setdefault("socket_timeout", 0.25)
        params["OPTIONS"] = options
        super().__init__(server, params)
        self._outage = _outage_for(str(server))

    # Reads: a miss.
    @_fail_open(default=None)
    def _get(self, key, default=None, version=None):
        return super().get(key, default, version)

    def get(self, key, default=None, version=None):
        value = self._get(key, default, version)
        return default if value is None else value

    @_fail_open(default=dict)
    def get_many(self, keys, version=None):
        return super().get_many(keys, version)

    @_fail_open(default=False)
    def has_key(self, key, version=None):
        return super().has_key(key, version)

    @_fail_open(raise_missing=True)
    def incr(self, key, delta=1, version=None):
        return super().incr(key, delta, version)

    # Writes: dropped (``add`` and ``touch`` say they did nothing).
    @_fail_open(default=False)
    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().add(key, value, timeout, version)

    @_fail_open(default=None)
    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().set(key, value, timeout, version)

    @_fail_open(default=False)
    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return super().touch(key, timeout, version)

    @_fail_open(default=False)
    def delete(self, key, version=None):
        return super().delete(key, version)

    @_fail_open(default=list)
    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return super().set_many(data, timeout, version)

    @_fail_open(default=None)
    def delete_many(self, keys, version=None):
        return super().delete_many(keys, version)

    @_fail_open(default=False)
    def clear(self):
        return super().clear()
