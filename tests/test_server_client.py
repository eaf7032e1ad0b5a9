"""Client and server connections from the first byte: the opening handshake, then frames."""

from __future__ import annotations

import pytest

from wsfast.client import ClientConnection
from wsfast.connection import State
from wsfast.events import TextMessage
from wsfast.exceptions import (
    InvalidHTTP,
    InvalidOrigin,
    InvalidState,
    InvalidStatus,
    InvalidVersion,
    NegotiationError,
)
from wsfast.frames import Opcode, encode_frame
from wsfast.handshake import Response, ServerHandshake, reject
from wsfast.headers import Headers
from wsfast.server import ServerConnection
from wsfast.uri import parse_uri

RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def connect(client: ClientConnection, server: ServerConnection) -> None:
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())


def test_rfc6455_opening_handshake_on_the_wire():
    server = ServerConnection(ServerHandshake(subprotocols=["chat"]))
    for byte in RFC_REQUEST:  # the request may arrive one byte at a time
        server.receive_data(bytes([byte]))
    assert server.state is State.OPEN and server.subprotocol == "chat"
    answer = server.data_to_send()
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer
    assert b"\r\nSec-WebSocket-Protocol: chat\r\n" in answer


def test_client_and_server_agree_and_talk():
    client = ClientConnection("ws://example.com/chat?room=1", subprotocols=["superchat", "chat"], origin="http://o")
    server = ServerConnection(ServerHandshake(subprotocols=["chat", "superchat"], origins=["http://o"]))
    connect(client, server)
    assert client.state is server.state is State.OPEN
    assert client.subprotocol == server.subprotocol == "chat"  # the server's preference
    assert server.request is not None and server.request.path == "/chat?room=1"
    assert server.request.headers["Host"] == "example.com"
    client.send_text("hello")
    server.receive_data(client.data_to_send())
    assert server.events_received() == [TextMessage("hello")]
    server.send_text("back")
    client.receive_data(server.data_to_send())
    assert client.events_received() == [TextMessage("back")]


def test_frames_right_behind_the_handshake_are_processed():
    client = ClientConnection("ws://h/")
    server = ServerConnection()
    request = client.data_to_send()
    client._set_state(State.OPEN)  # a client that pipelines a message behind its request
    client.send_text("early")
    server.receive_data(request + client.data_to_send())
    assert server.events_received() == [TextMessage("early")]
    server.send_text("late")
    fresh = ClientConnection("ws://h/")
    fresh.handshake.key = client.handshake.key
    fresh.receive_data(server.data_to_send())
    assert fresh.state is State.OPEN and fresh.events_received() == [TextMessage("late")]


def rejected(request: bytes, handshake: ServerHandshake | None = None) -> tuple[ServerConnection, bytes]:
    server = ServerConnection(handshake)
    server.receive_data(request)
    return server, server.data_to_send()


def test_wrong_version_gets_426_with_the_supported_version():
    server, answer = rejected(RFC_REQUEST.replace(b"Version: 13", b"Version: 8"))
    assert isinstance(server.handshake_error, InvalidVersion)
    assert answer.startswith(b"HTTP/1.1 426 ")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in answer
    assert server.state is State.CLOSED and server.should_close_transport


def test_bad_key_gets_400():
    _, answer = rejected(RFC_REQUEST.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"c2hvcnQ="))
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Sec-WebSocket-Key" in answer.split(b"\r\n\r\n", 1)[1]  # the body says why


def test_origin_outside_the_allow_list_gets_403():
    server, answer = rejected(RFC_REQUEST, ServerHandshake(origins=["https://allowed.example"]))
    assert isinstance(server.handshake_error, InvalidOrigin)
    assert answer.startswith(b"HTTP/1.1 403 ")


def test_malformed_request_gets_400_and_oversized_431():
    server, answer = rejected(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
    assert isinstance(server.handshake_error, InvalidHTTP) and answer.startswith(b"HTTP/1.1 400 ")
    server = ServerConnection(max_http_head_size=100)
    server.receive_data(b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 200)
    assert server.data_to_send().startswith(b"HTTP/1.1 431 ")
    assert server.should_close_transport
    server = ServerConnection(max_http_head_size=100)
    server.receive_data(b"GET /" + b"a" * 200)  # the request line alone is over the limit
    assert server.data_to_send().startswith(b"HTTP/1.1 414 ")  # the phrase is the stdlib's, by version
    assert server.should_close_transport


def test_process_request_answers_instead_of_upgrading():
    def health(request):
        return reject(200, "ok") if request.path == "/health" else None

    server = ServerConnection(hold_request=True)
    server.receive_data(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
    assert server.data_to_send() == b"" and server.request_waiting
    assert server.settle_request(health(server.request), None) is None
    answer = server.data_to_send()
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\nok")
    assert server.state is State.CLOSED and server.handshake_error is None and server.should_close_transport


def test_client_reports_a_rejection_with_the_servers_response():
    client = ClientConnection("ws://h/")
    client.data_to_send()
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nnot you")
    assert client.state is State.CLOSED and client.should_close_transport
    assert isinstance(client.handshake_error, InvalidStatus)
    assert client.handshake_error.response.body == b"not you"


def test_client_rejects_an_unoffered_subprotocol():
    client = ClientConnection("ws://h/")
    server = ServerConnection(ServerHandshake(subprotocols=["chat"]))
    server.receive_data(client.data_to_send())
    answer = server.data_to_send().replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Protocol: chat\r\n\r\n")
    client.receive_data(answer)
    assert isinstance(client.handshake_error, NegotiationError)


def test_client_handshake_cut_short():
    client = ClientConnection("ws://h/")
    client.receive_data(b"HTTP/1.1 101 Switching")
    client.receive_eof()
    assert isinstance(client.handshake_error, InvalidHTTP)
    assert client.close_code == 1006 and client.should_close_transport


def test_server_answers_only_once():
    server = ServerConnection()
    server.receive_data(b"GET / HTTP/1.1\r\n\n")
    first = server.data_to_send()
    server.receive_data(RFC_REQUEST)
    assert first.startswith(b"HTTP/1.1 400 ") and server.data_to_send() == b""


@pytest.mark.parametrize(
    ("uri", "secure", "host", "port", "path", "host_header"),
    [
        ("ws://example.com", False, "example.com", 80, "/", "example.com"),
        ("wss://example.com/chat?x=1&y", True, "example.com", 443, "/chat?x=1&y", "example.com"),
        ("ws://example.com:8080/", False, "example.com", 8080, "/", "example.com:8080"),
        ("wss://example.com:443/", True, "example.com", 443, "/", "example.com"),
        ("ws://[::1]:9000/a", False, "::1", 9000, "/a", "[::1]:9000"),
        ("ws://127.0.0.1/", False, "127.0.0.1", 80, "/", "127.0.0.1"),
    ],
)
def test_uris(uri, secure, host, port, path, host_header):
    parsed = parse_uri(uri)
    assert (parsed.secure, parsed.host, parsed.port, parsed.path, parsed.host_header) == (
        secure, host, port, path, host_header
    )  # fmt: skip


@pytest.mark.parametrize(
    "uri", ["http://example.com", "ws://", "ws://example.com/#frag", "ws://u@example.com/", "ws://h:0/", "ws://h:99999/"]
)
def test_invalid_uris(uri):
    with pytest.raises(ValueError):
        parse_uri(uri)
    with pytest.raises(ValueError):
        ClientConnection(uri)


@pytest.mark.parametrize(("uri", "expected"), [
    ("ws://user:secret@example.com/", "Basic dXNlcjpzZWNyZXQ="),
    ("wss://us%40er:p%3Ass%20w@example.com:8443/x", "Basic " + __import__("base64").b64encode(b"us@er:p:ss w").decode()),
    ("ws://user:@example.com/", "Basic dXNlcjo="),
])  # fmt: skip
def test_user_info_becomes_basic_auth(uri, expected):
    client = ClientConnection(uri)
    assert client.request.headers["Authorization"] == expected
    assert "@" not in client.request.headers["Host"]
    assert parse_uri(uri).host == "example.com"


def test_an_authorization_header_of_ones_own_wins_over_the_uri():
    client = ClientConnection("ws://user:secret@example.com/", extra_headers=[("Authorization", "Bearer t")])
    assert client.request.headers.get_all("Authorization") == ["Bearer t"]


def test_response_headers_are_available():
    client = ClientConnection("ws://h/", extra_headers=[("X-Token", "abc")])
    server = ServerConnection(ServerHandshake(extra_headers=Headers([("X-Server", "yes")])))
    connect(client, server)
    assert server.request is not None and server.request.headers["X-Token"] == "abc"
    assert isinstance(client.response, Response) and client.response.headers["X-Server"] == "yes"


def test_permessage_deflate_end_to_end():
    from wsfast.frames import FrameDecoder
    from wsfast.permessage_deflate import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory

    client = ClientConnection("ws://h/", extensions=[ClientPerMessageDeflateFactory(min_size=0)])
    server = ServerConnection(ServerHandshake(extensions=[ServerPerMessageDeflateFactory(min_size=0)]))
    connect(client, server)
    assert [e.name for e in server.extensions] == [e.name for e in client.extensions] == ["permessage-deflate"]
    # RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello", then "Hello" again with the shared window
    server.send_text("Hello")
    server.send_text("Hello")
    wire = server.data_to_send()
    assert wire == bytes.fromhex("c107f248cdc9c90700" "c105f200110000")
    client.receive_data(wire)
    assert client.events_received() == [TextMessage("Hello"), TextMessage("Hello")]
    long_text = "compressible " * 1000
    client.send_text(long_text)
    sent = client.data_to_send()
    [frame] = FrameDecoder(expect_masked=True, allowed_rsv=0b100).feed(sent)
    assert frame.rsv1 and len(frame.payload) < len(long_text) // 10
    server.receive_data(sent)
    assert server.events_received() == [TextMessage(long_text)]


def test_compressed_message_over_the_limit_fails_with_1009():
    from wsfast.permessage_deflate import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory

    client = ClientConnection("ws://h/", extensions=[ClientPerMessageDeflateFactory()])
    server = ServerConnection(ServerHandshake(extensions=[ServerPerMessageDeflateFactory()]), max_message_size=1 << 16)
    connect(client, server)
    client.send_binary(bytes(1 << 20))  # 1 MiB of zeros: about 1 KB on the wire
    server.receive_data(client.data_to_send())
    assert server.failure is not None and server.failure.close_code == 1009


def test_a_held_request_waits_for_respond_and_keeps_what_follows():
    client = ClientConnection("ws://example.com/chat")
    server = ServerConnection(hold_request=True)
    server.receive_data(client.data_to_send())
    assert server.request_waiting and server.request.path == "/chat"
    assert server.state is State.CONNECTING and server.data_to_send() == b""
    server.receive_data(encode_frame(Opcode.TEXT, b"early", mask=True))  # before the 101: kept
    server.respond()
    assert not server.request_waiting and server.state is State.OPEN
    assert server.events_received() == [TextMessage("early")]
    client.receive_data(server.data_to_send())
    assert client.state is State.OPEN


def test_a_held_request_answered_otherwise_or_refused():
    answered = ServerConnection(hold_request=True)
    answered.receive_data(ClientConnection("ws://example.com/").data_to_send())
    answered.respond(reject(403, "no"))
    assert answered.state is State.CLOSED and answered.response.status_code == 403
    assert answered.should_close_transport and answered.handshake_error is None

    refused = ServerConnection(hold_request=True)
    refused.receive_data(ClientConnection("ws://example.com/").data_to_send())
    refused.reject(InvalidOrigin("not here"))
    assert refused.response.status_code == 403 and isinstance(refused.handshake_error, InvalidOrigin)
    assert refused.data_to_send().startswith(b"HTTP/1.1 403 Forbidden\r\n")


def test_respond_and_reject_need_a_waiting_request():
    server = ServerConnection(hold_request=True)
    with pytest.raises(InvalidState):
        server.respond()
    with pytest.raises(InvalidState):
        server.reject(InvalidOrigin("x"))
    server.receive_data(ClientConnection("ws://example.com/").data_to_send())
    with pytest.raises(ValueError, match="101"):
        server.respond(Response(101, "Switching Protocols", Headers()))
    server.respond()
    with pytest.raises(InvalidState):
        server.respond()


def test_hold_response_lets_the_caller_change_or_replace_the_answer():
    client = ClientConnection("ws://h/")
    server = ServerConnection(hold_response=True)
    server.receive_data(client.data_to_send())
    assert server.response_waiting and server.response.status_code == 101 and server.state is State.CONNECTING
    assert server.data_to_send() == b""
    with pytest.raises(ValueError, match="only the handshake"):
        server.send_response(Response(101, "Switching Protocols", Headers()))
    assert server.response_waiting  # still held after the refusal
    server.response.headers.add("X-Extra", "1")
    server.send_response()
    assert server.state is State.OPEN and not server.response_waiting
    client.receive_data(server.data_to_send())
    assert client.state is State.OPEN and client.response.headers["X-Extra"] == "1"
    with pytest.raises(InvalidState):
        server.send_response()


def test_hold_response_replaced_by_a_refusal_closes():
    client = ClientConnection("ws://h/")
    server = ServerConnection(hold_response=True)
    server.receive_data(client.data_to_send())
    server.send_response(Response(403, "Forbidden", Headers(), b"no"))
    assert server.state is State.CLOSED and server.should_close_transport
    assert server.data_to_send().startswith(b"HTTP/1.1 403 Forbidden\r\n")
