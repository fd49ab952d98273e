"""``python -m encompass.server``: daphne, with a direct frame writer for the event websocket.

Takes exactly daphne's command line (``python -m encompass.server -b 0.0.0.0 -p 8000
encompass.asgi:application``) and serves the same ASGI application. The one difference: every
websocket's scope carries ``extensions["encompass.wire"]``, a :class:`FrameWriter` through which
the event hub writes ready-made frames, shared by every socket, without a trip through ASGI per
frame (``encompass.events.wire``; the figures are in docs/performance.md). Plain ``daphne`` still
works: the consumers then send through ASGI.
"""

from daphne.cli import CommandLineInterface
from daphne.server import Server as DaphneServer

from encompass.events.wire import WIRE_EXTENSION, FrameWriter


class Server(DaphneServer):
    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            extensions = dict(scope.get("extensions") or {})
            extensions[WIRE_EXTENSION] = {"writer": FrameWriter(protocol)}
            scope["extensions"] = extensions
        return super().create_application(protocol, scope)


class Command(CommandLineInterface):
    server_class = Server


def main():
    Command.entrypoint()


if __name__ == "__main__":
    main()
