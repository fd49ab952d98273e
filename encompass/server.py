"""``python -m encompass.server``: daphne, with a direct frame writer for the event websocket.

Takes exactly daphne's command line (``python -m encompass.server -b 0.0.0.0 -p 8000
encompass.asgi:application``) and serves the same ASGI application. Two differences:

* every websocket's scope carries ``extensions["encompass.wire"]``, a :class:`FrameWriter`
  through which the event hub writes ready-made frames, shared by every socket, without a trip
  through ASGI per frame (``encompass.events.wire``; the figures are in docs/performance.md);
* at shutdown, once daphne has cancelled the connections' applications, it stops the event hub
  and logs a warning naming any task still pending (``tests/events/test_wire.py`` fails on it);
* Twisted does not parse POSTed form and multipart bodies itself (``parsePOSTFormSubmission``):
  daphne never reads what it parses, a whole upload was parsed twice, and a multipart body
  Twisted cannot read (an empty one, say) got a bare ``400`` with no body before Django saw it.
  Django's parsers answer it instead, with a message (``tests/security/test_server_bodies.py``).

Plain ``daphne`` still works: the consumers then send through ASGI.
"""

import asyncio
import logging

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory as DaphneHTTPFactory
from daphne.http_protocol import WebRequest
from daphne.server import Server as DaphneServer
from twisted.internet import defer

from encompass.events.wire import WIRE_EXTENSION, FrameWriter

logger = logging.getLogger("encompass.server")


class Request(WebRequest):
    """daphne's request, leaving the body to the application (see the module docstring)."""

    def __init__(self, channel, queued=None, **kwargs):
        kwargs["parsePOSTFormSubmission"] = False
        if queued is None:
            super().__init__(channel, **kwargs)
        else:
            super().__init__(channel, queued, **kwargs)


class HTTPFactory(DaphneHTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = Request
        return protocol


class Server(DaphneServer):
    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            extensions = dict(scope.get("extensions") or {})
            extensions[WIRE_EXTENSION] = {"writer": FrameWriter(protocol)}
            scope["extensions"] = extensions
        return super().create_application(protocol, scope)

    def kill_all_applications(self):
        """At shutdown, after daphne has cancelled every connection's application: stop the
        event hub (its fan-out task and layer reader), then say if any task is still pending --
        a task that outlives its socket is a leak."""
        waiting = super().kill_all_applications()
        waiting.addCallback(lambda _: defer.Deferred.fromFuture(asyncio.ensure_future(close_hub())))
        waiting.addCallback(lambda _: _report_pending())
        return waiting


async def close_hub():
    from encompass.events.hub import local_hub

    hub = local_hub()
    if hub is not None:
        await hub.close()


def _report_pending():
    loop = asyncio.get_event_loop()
    pending = sorted(task.get_name() for task in asyncio.all_tasks(loop) if not task.done())
    if pending:
        logger.warning("%d task(s) still pending at shutdown: %s", len(pending), ", ".join(pending))


class Command(CommandLineInterface):
    server_class = Server


# daphne's Server.run builds its HTTP factory from this module-level name.
daphne.server.HTTPFactory = HTTPFactory


def main():
    Command.entrypoint()


if __name__ == "__main__":
    main()
