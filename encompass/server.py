"""``python -m encompass.server``: daphne, with a direct frame writer for the event websocket.

Takes exactly daphne's command line (``python -m encompass.server -b 0.0.0.0 -p 8000
encompass.asgi:application``) and serves the same ASGI application. Two differences:

* every websocket's scope carries ``extensions["encompass.wire"]``, a :class:`FrameWriter`
  through which the event hub writes ready-made frames, shared by every socket, without a trip
  through ASGI per frame (``encompass.events.wire``; the figures are in docs/performance.md);
* at shutdown, once daphne has cancelled the connections' applications, it stops the event hub
  and logs a warning naming any task still pending (``tests/events/test_wire.py`` fails on it).

Plain ``daphne`` still works: the consumers then send through ASGI.
"""

import asyncio
import logging

from daphne.cli import CommandLineInterface
from daphne.server import Server as DaphneServer
from twisted.internet import defer

from encompass.events.wire import WIRE_EXTENSION, FrameWriter

logger = logging.getLogger("encompass.server")


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


def main():
    Command.entrypoint()


if __name__ == "__main__":
    main()
