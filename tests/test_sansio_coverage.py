"""Behaviour of the sans-IO core that the other test modules leave unexercised (found by a coverage
audit): the connection's own limit on what extensions decode, failing a connection twice or after it
closed, and the ConnectionClosed exceptions."""

from __future__ import annotations

import pytest

from wsfast.client import ClientConnection
from wsfast.connection import Connection, Role, State
from wsfast.events import BinaryMessage
from wsfast.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    PayloadTooBig,
    ProtocolError,
    WsfastError,
)
from wsfast.extensions import RSV1, Extension
from wsfast.frames import Frame, FrameDecoder, Opcode, encode_frame
from wsfast.handshake import ServerHandshake
from wsfast.server import ServerConnection


class Doubling(Extension):
    """An extension that doubles every data frame it decodes and ignores ``max_size``, as a careless
    third-party extension might."""

    name = "x-doubling"
    rsv_bits = RSV1

    def __init__(self) -> None:
        self.limits: list[int | None] = []

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        self.limits.append(max_size)
        return frame._replace(payload=frame.payload * 2, rsv1=False)

    def encode(self, frame: Frame) -> Frame:
        return frame


def masked(opcode: Opcode, payload: bytes, **flags: bool) -> bytes:
    return encode_frame(opcode, payload, mask=b"\x0a\x0b\x0c\x0d", **flags)


def sent_frames(connection: Connection) -> list[Frame]:
    return FrameDecoder(expect_masked=False, max_frame_size=None, max_message_size=None).feed(connection.data_to_send())


def test_the_connection_limits_what_an_extension_decodes():
    extension = Doubling()
    connection = Connection(Role.SERVER, extensions=[extension], max_message_size=10)
    connection.receive_data(masked(Opcode.BINARY, b"12345", rsv1=True))  # 5 on the wire, 10 decoded: fits
    assert connection.events_received() == [BinaryMessage(b"1234512345")]
    connection.receive_data(masked(Opcode.BINARY, b"123456", rsv1=True))  # 6 on the wire, 12 decoded
    assert connection.events_received() == []
    assert isinstance(connection.failure, PayloadTooBig) and connection.failure.close_code == 1009
    assert connection.state is State.CLOSING
    [close] = sent_frames(connection)
    assert close.opcode is Opcode.CLOSE and close.payload[:2] == (1009).to_bytes(2, "big")
    assert extension.limits == [10, 10]


def test_the_limit_an_extension_is_given_shrinks_with_the_message():
    extension = Doubling()
    connection = Connection(Role.SERVER, extensions=[extension], max_message_size=10)
    connection.receive_data(masked(Opcode.BINARY, b"12", fin=False, rsv1=True))  # 4 decoded
    connection.receive_data(masked(Opcode.CONTINUATION, b"34", fin=False))  # 8 decoded
    assert connection.failure is None
    connection.receive_data(masked(Opcode.CONTINUATION, b"5", fin=True))  # 10 decoded: at the limit
    assert connection.events_received() == [BinaryMessage(b"1212343455")]
    assert extension.limits == [10, 6, 2]
    connection.receive_data(masked(Opcode.BINARY, b"123", fin=False, rsv1=True))  # 6
    connection.receive_data(masked(Opcode.CONTINUATION, b"45", fin=True))  # 6 + 4 = 10: fits
    connection.receive_data(masked(Opcode.BINARY, b"1234", fin=False, rsv1=True))  # 8
    connection.receive_data(masked(Opcode.CONTINUATION, b"56", fin=True))  # 8 + 4 = 12: too big
    assert connection.events_received() == [BinaryMessage(b"1231234545")]
    assert isinstance(connection.failure, PayloadTooBig)
    assert extension.limits == [10, 6, 2, 10, 4, 10, 2]


def test_no_limit_reaches_the_extension_as_none():
    extension = Doubling()
    connection = Connection(Role.SERVER, extensions=[extension], max_message_size=None)
    connection.receive_data(masked(Opcode.BINARY, b"ab", rsv1=True))
    assert connection.events_received() == [BinaryMessage(b"abab")]
    assert extension.limits == [None]


def test_failing_twice_keeps_the_first_error_and_sends_one_close_frame():
    connection = Connection(Role.SERVER)
    first, second = ProtocolError("first"), PayloadTooBig("second")
    connection.fail(first)
    connection.fail(second)
    assert connection.failure is first
    assert connection.state is State.CLOSING and connection.should_close_transport
    [close] = sent_frames(connection)
    assert close.payload == (1002).to_bytes(2, "big") + b"first"


def test_failing_after_the_close_handshake_does_nothing():
    connection = Connection(Role.SERVER)
    connection.receive_data(masked(Opcode.CLOSE, (1000).to_bytes(2, "big")))
    assert connection.state is State.CLOSED
    connection.data_to_send()
    connection.fail(ProtocolError("late"))
    assert connection.failure is None
    assert connection.data_to_send() == b""
    assert connection.state is State.CLOSED


def test_failing_while_closing_sends_no_second_close_frame():
    connection = Connection(Role.SERVER)
    connection.close(1001, "bye")
    connection.data_to_send()
    connection.fail(ProtocolError("broken"))
    assert connection.failure is not None and connection.state is State.CLOSING
    assert connection.data_to_send() == b""


@pytest.mark.parametrize("cls", [ConnectionClosed, ConnectionClosedOK, ConnectionClosedError])
def test_connection_closed_carries_both_codes(cls):
    error = cls(1001, "going away", 1000)
    assert isinstance(error, WsfastError)
    assert str(error) == "connection closed: 1001 going away"
    assert (error.code, error.reason, error.sent_code) == (1001, "going away", 1000)


def test_connection_closed_without_a_reason_or_a_sent_code():
    error = ConnectionClosedError(1006)
    assert str(error) == "connection closed: 1006"
    assert (error.code, error.reason, error.sent_code) == (1006, "", None)
    assert isinstance(error, ConnectionClosed) and not isinstance(error, ConnectionClosedOK)


def test_websockets_rcvd_and_sent_views_of_the_close_frames():
    both = ConnectionClosedOK(1001, "going away", 1000, "bye")
    assert (both.rcvd.code, both.rcvd.reason, both.sent.code, both.sent.reason) == (1001, "going away", 1000, "bye")
    dropped = ConnectionClosedError(1006)
    assert dropped.rcvd is None and dropped.sent is None  # no frame came, none was sent
    codeless = ConnectionClosedOK(1005, "", None, "")  # both frames without a code
    assert (codeless.rcvd.code, codeless.sent.code) == (1005, 1005)


def test_a_closed_connection_s_error_reports_the_frames_both_ways():
    client, server = ClientConnection("ws://example.com/"), ServerConnection(ServerHandshake())
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.close(1000, "done")
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    error = client.closed_error()
    # the server echoes the code, not the reason (RFC 6455 §5.5.1)
    assert (error.rcvd.code, error.rcvd.reason, error.sent.code, error.sent.reason) == (1000, "", 1000, "done")
