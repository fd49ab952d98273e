"""The daphne / autobahn / Twisted internals encompass/events/wire.py reads, checked on the
installed versions: when an upgrade renames or drops one of them, this fails and says which,
before the fast path silently stops working (pyproject.toml pins these packages tightly)."""

import inspect
import socket

import pytest
from autobahn.websocket.protocol import WebSocketProtocol, WebSocketServerProtocol
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol
from twisted.internet import tcp
from twisted.internet.abstract import FileDescriptor

from encompass.events.wire import FrameWriter


def test_daphne_websockets_are_autobahn_server_protocols():
    assert issubclass(DaphneWebSocketProtocol, WebSocketServerProtocol)


def test_autobahn_protocol_state_and_compression_attributes():
    assert WebSocketProtocol.STATE_OPEN == 3, "autobahn renumbered its protocol states"
    source = inspect.getsource(WebSocketProtocol)
    assert "self._perMessageCompress = None" in source, (
        "autobahn no longer initialises _perMessageCompress: FrameWriter.open/write read it"
    )
    assert "self.transport" in source


@pytest.mark.parametrize("name", ["dataBuffer", "offset", "disconnecting"])
def test_twisted_file_descriptor_buffer_attributes(name):
    assert hasattr(FileDescriptor, name), f"Twisted's FileDescriptor has no {name} any more"


def test_twisted_tcp_connection_buffers_and_socket():
    """A real tcp.Connection over a socket pair carries every attribute FrameWriter reads."""
    left, right = socket.socketpair()
    try:
        connection = tcp.Connection(left, protocol=None)
        for name in ("socket", "dataBuffer", "offset", "_tempDataLen", "disconnecting"):
            assert hasattr(connection, name), f"tcp.Connection has no {name}"
        assert connection.socket is left
        assert len(connection.dataBuffer) - connection.offset + connection._tempDataLen == 0
    finally:
        left.close()
        right.close()


def test_frame_writer_binds_to_the_socket_send_of_a_tcp_transport():
    left, right = socket.socketpair()
    try:
        connection = tcp.Connection(left, protocol=None)

        class Protocol:
            STATE_OPEN = WebSocketProtocol.STATE_OPEN
            state = STATE_OPEN
            _perMessageCompress = None
            transport = connection

        writer = FrameWriter(Protocol())
        assert writer.open
        assert writer.write(b"\x81\x02hi")
        assert right.recv(16) == b"\x81\x02hi"
    finally:
        left.close()
        right.close()
