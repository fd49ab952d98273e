"""Where a change came from: the request (or job) context audit entries and events read.

Set by ``RequestContextMiddleware`` for HTTP (channels web, api, admin, device) and by the
management commands that write (``command``); worker jobs and websocket messages run under the
default ``system`` channel. A ``ContextVar`` is per thread and per asyncio
task, so concurrent requests never see each other's context.
"""

import contextlib
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    api_key_id: int | None = None
    channel: str = "system"  # web, api, admin, device, command, system


_DEFAULT = RequestContext(request_id="")
_current = ContextVar("encompass_request_context", default=_DEFAULT)


def current():
    return _current.get()


@contextlib.contextmanager
def use_context(ctx=None, **changes):
    token = _current.set(replace(ctx or _current.get(), **changes))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_api_key(api_key_id):
    """Called by API-key authentication once it knows which key made the request."""
    _current.set(replace(_current.get(), api_key_id=api_key_id, channel="api"))
