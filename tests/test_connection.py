"""The sans-IO connection against RFC 6455 §5-§7, case by case (the Autobahn TestSuite's themes)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast.connection import Connection, Role, State
from wsfast.events import BinaryFragment, BinaryMessage, Close, Ping, Pong, TextFragment, TextMessage
from wsfast.exceptions import InvalidState, PayloadTooBig, ProtocolError
from wsfast.frames import Frame, FrameDecoder, Opcode, encode_frame

from tests.support import examples


def server(**options) -> Connection:
    return Connection(Role.SERVER, **options)


def client(**options) -> Connection:
    return Connection(Role.CLIENT, **options)


def masked(opcode, payload=b"", **flags) -> bytes:
    """A frame as a client sends it."""
    return encode_frame(opcode, payload, mask=b"\x01\x02\x03\x04", **flags)


def sent_frames(connection: Connection, *, from_client: bool = False) -> list[Frame]:
    return FrameDecoder(expect_masked=from_client, max_frame_size=None, max_message_size=None).feed(
        connection.data_to_send()
    )


def close_frame_code(connection: Connection, *, from_client: bool = False) -> int | None:
    [frame] = [f for f in sent_frames(connection, from_client=from_client) if f.opcode is Opcode.CLOSE]
    return int.from_bytes(frame.payload[:2], "big") if frame.payload else None


def assert_failed(connection: Connection, code: int) -> None:
    assert connection.failure is not None and connection.failure.close_code == code
    assert connection.state is State.CLOSING
    assert connection.should_close_transport
    assert close_frame_code(connection) == code


# ------------------------------------------------------------------------------ messages


def test_text_and_binary_messages():
    connection = server()
    connection.receive_data(masked(Opcode.TEXT, "κόσμε".encode()) + masked(Opcode.BINARY, b"\x00\xff"))
    assert connection.events_received() == [TextMessage("κόσμε"), BinaryMessage(b"\x00\xff")]
    assert connection.events_received() == []


def test_fragmented_message_with_interleaved_control_frames():
    connection = server()
    wire = (masked(Opcode.TEXT, b"Hel", fin=False) + masked(Opcode.PING, b"1") + masked(Opcode.CONTINUATION, b"l",
            fin=False) + masked(Opcode.PONG, b"2") + masked(Opcode.CONTINUATION, b"o"))  # fmt: skip
    for byte in wire:  # one byte at a time
        connection.receive_data(bytes([byte]))
    assert connection.events_received() == [Ping(b"1"), Pong(b"2"), TextMessage("Hello")]
    assert sent_frames(connection) == [Frame(Opcode.PONG, b"1")]  # the ping answered, in order


def test_empty_messages():
    connection = server()
    connection.receive_data(masked(Opcode.TEXT) + masked(Opcode.BINARY, fin=False) + masked(Opcode.CONTINUATION))
    assert connection.events_received() == [TextMessage(""), BinaryMessage(b"")]


def test_character_split_across_fragments():
    encoded = "😀".encode()
    connection = server()
    connection.receive_data(masked(Opcode.TEXT, encoded[:1], fin=False) + masked(Opcode.CONTINUATION, encoded[1:]))
    assert connection.events_received() == [TextMessage("😀")]


def test_streamed_fragments():
    connection = server(stream_fragments=True)
    encoded = "a😀b".encode()
    connection.receive_data(masked(Opcode.TEXT, encoded[:3], fin=False) + masked(Opcode.CONTINUATION, encoded[3:]))
    connection.receive_data(masked(Opcode.BINARY, b"xy", fin=False) + masked(Opcode.CONTINUATION, b"z"))
    connection.receive_data(masked(Opcode.TEXT, b"whole"))
    assert connection.events_received() == [
        TextFragment("a", False), TextFragment("😀b", True),
        BinaryFragment(b"xy", False), BinaryFragment(b"z", True),
        TextFragment("whole", True),
    ]  # fmt: skip


# ------------------------------------------------------------------------------ protocol errors: 1002


@pytest.mark.parametrize(
    "wire",
    [
        encode_frame(Opcode.TEXT, b"unmasked"),  # a client must mask
        masked(3),  # reserved opcodes
        masked(11),
        masked(Opcode.TEXT, b"x", rsv1=True),  # RSV bits without an extension
        masked(Opcode.TEXT, b"x", rsv2=True),
        masked(Opcode.PING, bytes(126)),  # control frames: at most 125 bytes, never fragmented
        masked(Opcode.PING, b"x", fin=False),
        masked(Opcode.CONTINUATION, b"x"),  # nothing to continue
        masked(Opcode.TEXT, b"a", fin=False) + masked(Opcode.TEXT, b"b"),  # new message inside one
        masked(Opcode.CLOSE, b"\x03"),  # a 1-byte close payload
        masked(Opcode.CLOSE, (999).to_bytes(2, "big")),  # invalid close codes
        masked(Opcode.CLOSE, (1005).to_bytes(2, "big")),
        masked(Opcode.CLOSE, (2000).to_bytes(2, "big")),
    ],
)
def test_protocol_errors_fail_with_1002(wire):
    connection = server()
    connection.receive_data(wire)
    assert_failed(connection, 1002)


def test_server_frames_must_not_be_masked():
    connection = client()
    connection.receive_data(masked(Opcode.TEXT, b"masked"))
    assert connection.failure is not None and connection.failure.close_code == 1002
    assert close_frame_code(connection, from_client=True) == 1002


def test_messages_before_the_error_are_delivered():
    connection = server()
    connection.receive_data(masked(Opcode.TEXT, b"first") + masked(4) + masked(Opcode.PING))
    assert connection.events_received() == [TextMessage("first")]
    assert_failed(connection, 1002)
    connection.receive_data(masked(Opcode.TEXT, b"ignored after the failure"))
    assert connection.events_received() == []


# ------------------------------------------------------------------------------ invalid UTF-8: 1007


@pytest.mark.parametrize(
    "wire",
    [
        masked(Opcode.TEXT, b"\xff"),
        masked(Opcode.TEXT, b"\xed\xa0\x80"),
        masked(Opcode.TEXT, b"ok\xc3", fin=False) + masked(Opcode.CONTINUATION, b"("),
        masked(Opcode.TEXT, b"ends mid-character \xc3"),
        masked(Opcode.TEXT, b"\xc3", fin=False) + masked(Opcode.CONTINUATION),
        masked(Opcode.CLOSE, b"\x03\xe8\xff"),  # the close reason too
    ],
)
def test_invalid_utf8_fails_with_1007(wire):
    connection = server()
    connection.receive_data(wire)
    assert_failed(connection, 1007)


def test_invalid_utf8_fails_fast_before_the_message_ends():
    connection = server()
    connection.receive_data(masked(Opcode.TEXT, b"abc\xed", fin=False))
    assert connection.failure is None
    connection.receive_data(masked(Opcode.CONTINUATION, b"\xa0", fin=False))  # a surrogate: never valid
    assert_failed(connection, 1007)


# ------------------------------------------------------------------------------ limits: 1009


def test_message_over_the_limit_fails_with_1009():
    connection = server(max_message_size=10)
    connection.receive_data(masked(Opcode.BINARY, bytes(6), fin=False))
    connection.receive_data(masked(Opcode.CONTINUATION, bytes(5))[:6])  # the header is enough
    assert isinstance(connection.failure, PayloadTooBig)
    assert_failed(connection, 1009)


def test_frame_over_the_limit_fails_with_1009():
    connection = server(max_frame_size=100, max_message_size=None)
    connection.receive_data(masked(Opcode.BINARY, bytes(101))[:8])
    assert_failed(connection, 1009)


def test_message_at_the_limit_passes():
    connection = server(max_message_size=10)
    connection.receive_data(masked(Opcode.BINARY, bytes(4), fin=False) + masked(Opcode.CONTINUATION, bytes(6)))
    assert connection.events_received() == [BinaryMessage(bytes(10))]


def test_a_message_of_too_many_frames_fails_with_1009():
    connection = server(max_fragments=3)
    connection.receive_data(masked(Opcode.TEXT, b"a", fin=False) + masked(Opcode.CONTINUATION, b"", fin=False) * 2)
    assert connection.failure is None
    connection.receive_data(masked(Opcode.CONTINUATION, b"", fin=False))
    assert_failed(connection, 1009)


def test_the_default_frame_cap_stops_a_message_that_never_ends():
    connection = server()
    connection.receive_data(masked(Opcode.TEXT, b"a", fin=False))
    for _ in range(5):
        connection.receive_data(masked(Opcode.CONTINUATION, b"", fin=False) * 1000)
    assert_failed(connection, 1009)
    assert connection.events_received() == []


@pytest.mark.parametrize("stream", [False, True])
def test_fragments_are_joined_as_they_come(stream):
    connection = server(max_fragments=None, stream_fragments=stream)
    connection.receive_data(masked(Opcode.TEXT, "é".encode()[:1], fin=False)
                            + masked(Opcode.CONTINUATION, b"", fin=False) * 10
                            + masked(Opcode.CONTINUATION, "é".encode()[1:] + b"!", fin=False)
                            + masked(Opcode.CONTINUATION, b""))  # fmt: skip
    events = connection.events_received()
    if stream:  # no event for frames that carry nothing, whole characters in each
        assert events == [TextFragment("", False), TextFragment("é!", False), TextFragment("", True)]
    else:
        assert events == [TextMessage("é!")]


def test_held_pongs_answer_only_the_latest_ping():
    connection = server()
    connection.hold_pongs()
    connection.receive_data(b"".join(masked(Opcode.PING, bytes([index])) for index in range(100)))
    assert connection.data_to_send() == b""
    assert len(connection.events_received()) == 100  # every ping is still reported
    connection.release_pongs()
    assert sent_frames(connection) == [Frame(Opcode.PONG, bytes([99]))]
    connection.receive_data(masked(Opcode.PING, b"again"))
    assert sent_frames(connection) == [Frame(Opcode.PONG, b"again")]


def test_a_held_pong_is_not_sent_after_close():
    connection = server()
    connection.hold_pongs()
    connection.receive_data(masked(Opcode.PING, b"late"))
    connection.close()
    connection.release_pongs()
    assert [frame.opcode for frame in sent_frames(connection)] == [Opcode.CLOSE]


@pytest.mark.parametrize(("received", "sent", "failed", "kind"), [
    ((1000, ""), (1000, ""), False, "ConnectionClosedOK"),
    ((1001, "bye"), None, False, "ConnectionClosedOK"),
    ((1000, ""), (1011, ""), False, "ConnectionClosedError"),
    ((1005, ""), (None, ""), False, "ConnectionClosedError"),
    (None, None, False, "ConnectionClosedError"),
])  # fmt: skip
def test_closed_error_tells_a_normal_close_from_an_error(received, sent, failed, kind):
    connection = server()
    if received is not None:
        connection.close_code, connection.close_reason = received
    connection.close_sent = sent
    error = connection.closed_error()
    assert type(error).__name__ == kind
    assert error.code == (received[0] if received else 1006)
    assert error.sent_code == (sent[0] if sent else None)


# ------------------------------------------------------------------------------ ping, pong


def test_ping_is_answered_with_the_same_payload():
    connection = server()
    connection.receive_data(masked(Opcode.PING, b"payload"))
    assert connection.events_received() == [Ping(b"payload")]
    assert sent_frames(connection) == [Frame(Opcode.PONG, b"payload")]


def test_auto_pong_can_be_turned_off():
    connection = server(auto_pong=False)
    connection.receive_data(masked(Opcode.PING, b"x"))
    assert connection.events_received() == [Ping(b"x")]
    assert connection.data_to_send() == b""


def test_unsolicited_pongs_are_reported_and_otherwise_ignored():
    connection = server()
    connection.receive_data(masked(Opcode.PONG, b"heartbeat"))
    assert connection.events_received() == [Pong(b"heartbeat")]
    assert connection.data_to_send() == b""


def test_ping_and_pong_sending():
    connection = client()
    connection.ping(b"p")
    connection.pong(b"q")
    assert sent_frames(connection, from_client=True) == [Frame(Opcode.PING, b"p"), Frame(Opcode.PONG, b"q")]
    with pytest.raises(ValueError):
        connection.ping(bytes(126))


# ------------------------------------------------------------------------------ closing


def test_close_handshake_started_here():
    connection = server()
    connection.close(1001, "going away")
    assert connection.state is State.CLOSING and connection.close_sent == (1001, "going away")
    assert sent_frames(connection) == [Frame(Opcode.CLOSE, b"\x03\xe9going away")]
    assert not connection.should_close_transport
    connection.receive_data(masked(Opcode.TEXT, b"still delivered while closing"))
    connection.receive_data(masked(Opcode.CLOSE, b"\x03\xe9"))
    assert connection.events_received() == [TextMessage("still delivered while closing"), Close(1001, "")]
    assert connection.state is State.CLOSED and connection.should_close_transport
    assert connection.data_to_send() == b""  # no second close frame


def test_close_handshake_started_by_the_peer():
    connection = client()
    connection.receive_data(encode_frame(Opcode.CLOSE, b"\x0f\xa0app reason"))  # 4000
    assert connection.events_received() == [Close(4000, "app reason")]
    assert (connection.close_code, connection.close_reason) == (4000, "app reason")
    assert close_frame_code(connection, from_client=True) == 4000  # the code is echoed
    assert connection.state is State.CLOSED
    assert not connection.should_close_transport  # a client waits for the server to close TCP
    connection.receive_eof()
    assert connection.should_close_transport


def test_close_without_a_code_is_answered_without_a_code():
    connection = server()
    connection.receive_data(masked(Opcode.CLOSE))
    assert connection.events_received() == [Close(1005, "")]
    assert sent_frames(connection) == [Frame(Opcode.CLOSE, b"")]


def test_nothing_is_sent_after_close():
    connection = server()
    connection.close()
    for send in (lambda: connection.send_text("x"), lambda: connection.send_binary(b"x"), lambda: connection.ping()):
        with pytest.raises(InvalidState):
            send()
    connection.close()  # a second close does nothing
    assert [f.opcode for f in sent_frames(connection)] == [Opcode.CLOSE]


def test_data_after_the_close_handshake_is_ignored():
    connection = server()
    connection.receive_data(masked(Opcode.CLOSE, b"\x03\xe8") + masked(Opcode.TEXT, b"late"))
    assert connection.events_received() == [Close(1000, "")]
    connection.receive_data(masked(Opcode.TEXT, b"later"))
    assert connection.events_received() == []


def test_eof_without_close_records_1006():
    connection = server()
    connection.receive_data(masked(Opcode.TEXT, b"hi"))
    connection.receive_eof()
    assert connection.state is State.CLOSED
    assert (connection.close_code, connection.close_reason) == (1006, "")
    assert connection.should_close_transport


def test_close_arguments_are_checked():
    connection = server()
    with pytest.raises(ValueError):
        connection.close(1005)
    with pytest.raises(ValueError):
        connection.close(1000, "x" * 124)
    with pytest.raises(ValueError):
        connection.close(None, "reason without a code")
    connection.close(None)
    assert sent_frames(connection) == [Frame(Opcode.CLOSE, b"")]


def test_failure_reason_is_truncated_to_fit():
    connection = server()
    connection.fail(ProtocolError("é" * 200))
    [frame] = sent_frames(connection)
    assert len(frame.payload) <= 125
    frame.payload[2:].decode("utf-8")  # cut on a character boundary


# ------------------------------------------------------------------------------ sending


def test_fragmented_sending_rules():
    connection = client()
    with pytest.raises(InvalidState):
        connection.send_continuation(b"x", fin=True)
    connection.send_text("é", fin=False)
    with pytest.raises(InvalidState):
        connection.send_binary(b"x")
    connection.send_continuation("è", fin=True)
    connection.send_binary(b"ok")
    assert sent_frames(connection, from_client=True) == [
        Frame(Opcode.TEXT, "é".encode(), fin=False),
        Frame(Opcode.CONTINUATION, "è".encode()),
        Frame(Opcode.BINARY, b"ok"),
    ]


def test_client_masks_with_fresh_keys_and_server_does_not():
    sender = client()
    sender.send_binary(b"payload")
    sender.send_binary(b"payload")
    wire = sender.data_to_send()
    assert wire[1] & 0x80 and wire[2:6] != wire[15:19]
    receiver = server()
    receiver.send_binary(b"x")
    assert receiver.data_to_send() == b"\x82\x01x"


@settings(max_examples=examples(100), deadline=None)
@given(
    messages=st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)), max_size=6),
    fragment=st.integers(1, 50),
    cuts=st.lists(st.integers(0, 5000), max_size=8),
)
def test_client_to_server_round_trip(messages, fragment, cuts):
    sender, receiver = client(), server()
    for message in messages:
        data = message.encode() if isinstance(message, str) else message
        pieces = [data[i : i + fragment] for i in range(0, len(data), fragment)] or [b""]
        send = sender.send_text if isinstance(message, str) else sender.send_binary
        send(pieces[0], fin=len(pieces) == 1)
        for index, piece in enumerate(pieces[1:], 2):
            sender.send_continuation(piece, fin=index == len(pieces))
    wire = sender.data_to_send()
    bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    for start, end in zip(bounds, bounds[1:]):
        receiver.receive_data(wire[start:end])
    expected = [TextMessage(m) if isinstance(m, str) else BinaryMessage(m) for m in messages]
    assert receiver.events_received() == expected
    assert receiver.failure is None


def test_a_connection_without_a_handshake_refuses_to_read_one():
    connection = Connection(Role.SERVER, state=State.CONNECTING)
    with pytest.raises(InvalidState, match="no opening handshake"):
        connection.receive_data(b"GET / HTTP/1.1\r\n\r\n")


def test_a_large_unmasked_payload_is_sent_behind_its_header_without_a_copy():
    connection = Connection(Role.SERVER)
    payload = bytes(range(256)) * 400  # 100 KB
    connection.send_binary(payload)
    header, chunk = connection.chunks_to_send()
    assert chunk is payload and header + chunk == encode_frame(Opcode.BINARY, payload)
    connection.send_text("small")
    connection.send_binary(payload, fin=False)  # the long path, through _send_data
    connection.send_continuation(b"end", fin=True)
    chunks = connection.chunks_to_send()
    assert len(chunks) == 4 and chunks[2] is payload
    decoder = FrameDecoder(expect_masked=False, max_frame_size=None, max_message_size=None)
    assert [frame.payload for frame in decoder.feed(b"".join(chunks))] == [b"small", payload, b"end"]
    assert connection.data_to_send() == b""


def test_a_client_masks_into_one_frame_and_a_bytearray_is_never_sent_by_reference():
    client = Connection(Role.CLIENT)
    client.send_binary(bytes(100000))
    assert len(client.chunks_to_send()) == 1
    server = Connection(Role.SERVER)
    data = bytearray(100000)
    server.send_binary(data)
    (frame,) = server.chunks_to_send()
    data[0] = 1  # the caller's buffer changes afterwards: what was queued does not
    assert frame[-100000:] == bytes(100000)
