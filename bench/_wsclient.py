"""A deliberately cheap websocket client for the fan-out benchmark.

The ``websockets`` library parses each frame through a generator, decodes it to ``str`` and
queues it for ``recv()``: some tens of microseconds per frame, which on a 2-core machine made the
*clients* the bottleneck (a 250-socket run of the bare baseline showed a 14 s median latency that
was all client lag). This client speaks just enough RFC 6455 for the benchmark: it does the HTTP
upgrade, sends masked text frames, answers pings, and hands each received text message's bytes to
a callback -- no decoding, no queue, no task per message.
"""

import asyncio
import base64
import os
import struct
from urllib.parse import urlparse


class HandshakeError(Exception):
    pass


def _frame(opcode, payload):
    """A masked client frame (clients must mask)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


class _Protocol(asyncio.Protocol):
    def __init__(self, on_message):
        self.on_message = on_message
        self.buffer = bytearray()
        self.handshake = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.fragments = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.handshake.done():
            self.handshake.set_exception(exc or HandshakeError("connection closed in handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data):
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.handshake.set_exception(HandshakeError(head.split(b"\r\n", 1)[0].decode()))
                self.transport.close()
                return
            self.upgraded = True
            self.handshake.set_result(None)
        self._frames()

    def _frames(self):
        buf = self.buffer
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                start = pos + 10
            end = start + length
            if end > size:
                break
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode == 0x1 or opcode == 0x2 or opcode == 0x0:
                if fin and self.fragments is None:
                    self.on_message(bytes(buf[start:end]))
                else:
                    self.fragments = (self.fragments or b"") + bytes(buf[start:end])
                    if fin:
                        self.on_message(self.fragments)
                        self.fragments = None
            elif opcode == 0x9:  # ping
                self.transport.write(_frame(0xA, bytes(buf[start:end])))
            elif opcode == 0x8:  # close
                self.transport.close()
            pos = end
        del buf[:pos]

    def send_text(self, text):
        self.transport.write(_frame(0x1, text.encode()))


async def connect(url, headers, on_message):
    """Open a websocket; returns the protocol (``send_text``, ``closed`` future, ``transport``)."""
    parts = urlparse(url)
    loop = asyncio.get_running_loop()
    _transport, protocol = await loop.create_connection(
        lambda: _Protocol(on_message), parts.hostname, parts.port
    )
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    protocol.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await protocol.handshake
    return protocol
