"""Writing ready-made websocket frames straight to a daphne connection.

Through ASGI, every ``websocket.send`` to every socket goes through Channels' send wrappers,
daphne's reply handling and autobahn's framing, and Twisted then registers the socket with the
event loop to write it on the next turn: 50-80 µs a frame, which was 70-90 % of a web process
fanning events out to 1,000 sockets (docs/performance.md). A server frame is not masked, so one
event's frame is the same bytes for every socket: the hub builds it once and this module hands
those bytes to each connection's TCP transport, sending at once when nothing is queued before
them (as asyncio's own transports do) and leaving the rest to Twisted otherwise.

``python -m encompass.server`` (daphne with :class:`encompass.server.Server`) puts a
:class:`FrameWriter` in each websocket's ASGI scope under ``extensions["encompass.wire"]``. Under
any other server (or Channels' test communicators) there is none, and the consumer sends through
ASGI as usual: same frames, same order, only slower.
"""

WIRE_EXTENSION = "encompass.wire"

# RFC 6455 §5.2: FIN + text opcode; payload length in 7 bits, or 126 + 16 bits, or 127 + 64 bits.
_TEXT_FIN = 0x81


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented text frame (server to client) carrying ``payload``."""
    size = len(payload)
    if size < 126:
        header = bytes((_TEXT_FIN, size))
    elif size < 1 << 16:
        header = bytes((_TEXT_FIN, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_TEXT_FIN, 127)) + size.to_bytes(8, "big")
    return header + payload


class FrameWriter:
    """The write side of one daphne websocket connection, for whole frames.

    Only for the thread running the reactor (daphne's asyncio loop, where consumers run), and only
    for connections without permessage-deflate (daphne offers none): on a compressed connection
    ``write`` refuses, and the consumer falls back to ASGI.
    """

    __slots__ = ("_send", "_transport", "protocol")

    def __init__(self, protocol):
        self.protocol = protocol
        self._transport = self._send = None

    def _bind(self):
        """The transport, once the handshake is done (and the socket's own ``send`` when it is
        plain TCP -- TLS or anything else gets Twisted's ``write`` only)."""
        transport = self._transport = self.protocol.transport
        sock = getattr(transport, "socket", None)
        if sock is not None and hasattr(transport, "dataBuffer"):
            self._send = sock.send
        return transport

    @property
    def open(self):
        protocol = self.protocol
        return (
            protocol.state == protocol.STATE_OPEN
            and getattr(protocol, "_perMessageCompress", None) is None
            and protocol.transport is not None
            and not protocol.transport.disconnecting
        )

    def backlog(self):
        """Bytes written to this connection that the kernel has not taken yet (as far as the
        transport lets us see: 0 for one that does not say)."""
        transport = self.protocol.transport
        if transport is None:
            return 0
        buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
        return buffered + getattr(transport, "_tempDataLen", 0)

    def write(self, frame: bytes, high_water=None) -> bool:
        """Send a whole frame (or several, concatenated). False -- and nothing written -- when the
        connection is not open, or when more than ``high_water`` bytes already wait for it.

        When nothing is queued before it, the frame goes to the socket now -- one ``send`` call,
        no event-loop registration -- and only what the kernel would not take is queued in
        Twisted's buffer, which keeps the order.
        """
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN or protocol._perMessageCompress is not None:
            return False
        transport = self._transport or self._bind()
        if transport.disconnecting:
            return False
        send = self._send
        if send is not None:
            waiting = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
            if waiting == 0:
                try:
                    sent = send(frame)
                except BlockingIOError:
                    sent = 0
                except OSError:  # the connection is gone; Twisted finds out when it reads
                    return False
                if sent == len(frame):
                    return True
                frame = frame[sent:]
            elif high_water is not None and waiting > high_water:
                return False
        elif high_water is not None and self.backlog() > high_water:
            return False
        transport.write(frame)
        return True


def wire_for(scope):
    """The connection's :class:`FrameWriter`, or None when the server offers none."""
    extension = (scope.get("extensions") or {}).get(WIRE_EXTENSION)
    return extension.get("writer") if isinstance(extension, dict) else None
