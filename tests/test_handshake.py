"""The opening handshake (RFC 6455 §4), both halves, end to end and through every rejection path."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wsfast
from wsfast.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHTTP,
    InvalidOrigin,
    InvalidStatus,
    InvalidUpgrade,
    InvalidVersion,
    NegotiationError,
)
from wsfast.extensions import ClientExtensionFactory, Extension, ExtensionParameters, ServerExtensionFactory
from wsfast.frames import Frame
from wsfast.handshake import (
    GUID,
    SERVER,
    USER_AGENT,
    ClientHandshake,
    Request,
    Response,
    ServerHandshake,
    accept_key,
    generate_key,
    parse_request,
    parse_response,
    reject,
    response_for,
)
from wsfast.headers import Headers, parse_extensions
from wsfast.kernels import parse_http_head
from wsfast.connection import State
from wsfast.limits import MAX_HTTP_BODY_SIZE
from wsfast.server import ServerConnection

# RFC 6455 §1.3 and §4.2.2, word for word.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RFC_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)

# ------------------------------------------------------------------------- fake extensions


class FakeExtension(Extension):
    def __init__(self, name: str, params: ExtensionParameters) -> None:
        self.name = name
        self.params = params

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame

    def encode(self, frame: Frame) -> Frame:
        return frame

    def __repr__(self) -> str:
        return f"FakeExtension({self.name!r}, {self.params!r})"


def accept_all(params: ExtensionParameters) -> bool:
    return True


class FakeClientFactory(ClientExtensionFactory):
    def __init__(
        self,
        name: str,
        params: Sequence[tuple[str, str | None]] = (),
        accepts: Callable[[ExtensionParameters], bool] = accept_all,
    ) -> None:
        self.name = name
        self.params = list(params)
        self.accepts = accepts
        self.seen: list[tuple[ExtensionParameters, list[Extension]]] = []

    def get_request_params(self) -> ExtensionParameters:
        return list(self.params)

    def process_response_params(self, params: ExtensionParameters, accepted: Sequence[Extension]) -> Extension:
        self.seen.append((params, list(accepted)))
        if not self.accepts(params):
            raise NegotiationError(f"{self.name}: unexpected {params}")
        return FakeExtension(self.name, params)


class FakeServerFactory(ServerExtensionFactory):
    def __init__(
        self,
        name: str,
        accepts: Callable[[ExtensionParameters], bool] = accept_all,
        answer: ExtensionParameters | None = None,
    ) -> None:
        self.name = name
        self.accepts = accepts
        self.answer = answer
        self.seen: list[tuple[ExtensionParameters, list[Extension]]] = []

    def process_request_params(
        self, params: ExtensionParameters, accepted: Sequence[Extension]
    ) -> tuple[ExtensionParameters, Extension]:
        self.seen.append((params, list(accepted)))
        # Like RFC 7692 §5.1: one agreement per extension; later offers are declined.
        if any(extension.name == self.name for extension in accepted) or not self.accepts(params):
            raise NegotiationError(f"{self.name}: declined {params}")
        answer = params if self.answer is None else self.answer
        return answer, FakeExtension(self.name, answer)


def has(name: str, value: str) -> Callable[[ExtensionParameters], bool]:
    return lambda params: (name, value) in params


# ------------------------------------------------------------------------- helpers


def request_with(*, drop: Sequence[str] = (), add: Sequence[tuple[str, str]] = ()) -> Request:
    """The RFC 6455 §1.3 request with some headers removed and others added."""
    parsed = parse_request(RFC_REQUEST)
    assert parsed is not None
    headers = parsed[0].headers.copy()
    for name in drop:
        del headers[name]
    for name, value in add:
        headers.add(name, value)
    return Request("/chat", headers)


def response_with(key: str = RFC_KEY, *, drop: Sequence[str] = (), add: Sequence[tuple[str, str]] = ()) -> Response:
    headers = Headers([("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_key(key))])
    for name in drop:
        del headers[name]
    for name, value in add:
        headers.add(name, value)
    return Response(101, "Switching Protocols", headers)


def assert_complete_response(response: Response) -> None:
    """Serialized, the response is a valid HTTP head and a body of exactly Content-Length bytes."""
    data = response.serialize()
    head = parse_http_head(data)
    assert head is not None
    (version, status, reason), pairs, length = head
    assert (version, int(status), reason) == ("HTTP/1.1", response.status_code, response.reason_phrase)
    headers = Headers(pairs)
    assert int(headers["Content-Length"]) == len(data) - length == len(response.body)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "close" in headers["Connection"].lower()
    parsed = parse_response(data)
    assert parsed == (response, len(data))


# ------------------------------------------------------------------------- keys


def test_accept_key_rfc_example():
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_generate_key():
    keys = {generate_key() for _ in range(64)}
    assert len(keys) == 64
    for key in keys:
        assert len(key) == 24
        assert len(base64.b64decode(key, validate=True)) == 16


def test_default_product_names():
    assert USER_AGENT == SERVER == f"wsfast/{wsfast.__version__}"


# ------------------------------------------------------------------------- end to end


def test_rfc_example_server_side():
    parsed = parse_request(RFC_REQUEST + b"\x81\x85")  # bytes after the head are not taken
    assert parsed is not None
    request, consumed = parsed
    assert consumed == len(RFC_REQUEST)
    assert request.path == "/chat"
    assert request.headers["origin"] == "http://example.com"
    server = ServerHandshake(origins=["http://example.com"], subprotocols=["chat"], server_header=None)
    response, subprotocol, extensions = server.accept(request)
    assert (subprotocol, extensions) == ("chat", [])
    assert response.serialize() == RFC_RESPONSE


def test_rfc_example_client_side():
    client = ClientHandshake(
        "server.example.com", "/chat", origin="http://example.com", subprotocols=["chat", "superchat"],
        user_agent=None, key=RFC_KEY,
    )  # fmt: skip
    sent = client.request.serialize()
    assert Headers(parse_http_head(sent)[1]) == Headers(parse_http_head(RFC_REQUEST)[1])  # type: ignore[index]
    parsed = parse_response(RFC_RESPONSE + b"\x81\x00")
    assert parsed is not None
    response, consumed = parsed
    assert consumed == len(RFC_RESPONSE)
    assert client.process_response(response) == ("chat", [])


def test_end_to_end_with_extensions():
    client_factories = [
        FakeClientFactory("x-zip", [("level", "9")], accepts=has("level", "9")),
        FakeClientFactory("x-zip", [], accepts=has("level", "1")),
        FakeClientFactory("x-unknown"),
        FakeClientFactory("x-tag", [("id", "a")]),
    ]
    client = ClientHandshake(
        "localhost:8765", "/feed?room=1", subprotocols=["v2", "v1"], extensions=client_factories,
        extra_headers=[("Authorization", "Bearer t")],
    )  # fmt: skip
    assert client.request.headers["Sec-WebSocket-Extensions"] == "x-zip; level=9, x-zip, x-unknown, x-tag; id=a"
    data = client.request.serialize()
    request, consumed = parse_request(data)  # type: ignore[misc]
    assert consumed == len(data)
    assert request.path == "/feed?room=1"
    server = ServerHandshake(
        subprotocols=["v1", "v2"],
        extensions=[
            FakeServerFactory("x-tag"),
            FakeServerFactory("x-zip", accepts=has("level", "9"), answer=[("level", "1")]),
        ],
        extra_headers={"X-Served-By": "test"},
    )  # fmt: skip
    response, subprotocol, server_extensions = server.accept(request)
    assert subprotocol == "v1"  # the server's preference wins
    assert [(e.name, e.params) for e in server_extensions] == [("x-zip", [("level", "1")]), ("x-tag", [("id", "a")])]
    assert response.headers["Sec-WebSocket-Extensions"] == "x-zip; level=1, x-tag; id=a"
    assert response.headers["Server"] == SERVER and response.headers["X-Served-By"] == "test"
    received, _ = parse_response(response.serialize())  # type: ignore[misc]
    agreed_subprotocol, client_extensions = client.process_response(received)
    assert agreed_subprotocol == "v1"
    assert [(e.name, e.params) for e in client_extensions] == [("x-zip", [("level", "1")]), ("x-tag", [("id", "a")])]
    # The first x-zip offer declined level=1, so the second one took it.
    assert [params for params, _ in client_factories[0].seen] == [[("level", "1")]]
    assert client_factories[3].seen == [([("id", "a")], [client_extensions[0]])]


tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=8)


@given(st.lists(tokens, unique=True, max_size=5), st.lists(tokens, unique=True, max_size=5))
def test_subprotocol_agreement(offered, supported):
    client = ClientHandshake("example.com", subprotocols=offered)
    request, _ = parse_request(client.request.serialize())  # type: ignore[misc]
    response, subprotocol, _ = ServerHandshake(subprotocols=supported).accept(request)
    expected = next((name for name in supported if name in offered), None)
    assert subprotocol == expected
    assert client.process_response(parse_response(response.serialize())[0]) == (expected, [])  # type: ignore[index]


# ------------------------------------------------------------------------- messages


class TestMessages:
    def test_request_serialize(self):
        request = Request("/a?b=c", Headers([("Host", "h")]))
        assert request.serialize() == b"GET /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n"
        with pytest.raises(AttributeError):
            request.path = "/x"  # type: ignore[misc]
        assert not hasattr(request, "__dict__")

    @pytest.mark.parametrize("path", ["", "/a b", "/\r\nHost: evil", "/caf\xe9"])
    def test_request_rejects_invalid_targets(self, path):
        with pytest.raises(ValueError):
            Request(path, Headers()).serialize()

    def test_response_serialize_adds_content_length(self):
        headers = Headers([("Content-Type", "text/plain")])
        response = Response(403, "Forbidden", headers, b"no")
        assert response.serialize() == (
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nno"
        )
        assert "Content-Length" not in headers  # not modified
        assert Response(200, "OK", Headers()).serialize() == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        switching = Response(101, "Switching Protocols", Headers())
        assert switching.serialize() == b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
        assert Response(204, "No Content", Headers()).serialize() == b"HTTP/1.1 204 No Content\r\n\r\n"
        assert Response(200, "", Headers([("Content-Length", "2")]), b"ok").serialize().endswith(b"\r\n\r\nok")
        chunked = Response(200, "OK", Headers([("Transfer-Encoding", "chunked")]), b"0\r\n\r\n")
        assert b"Content-Length" not in chunked.serialize()

    @pytest.mark.parametrize(
        "response",
        [
            Response(99, "x", Headers()),
            Response(1000, "x", Headers()),
            Response(200, "bad\r\nInjected: yes", Headers()),
            Response(101, "Switching Protocols", Headers(), b"x"),
            Response(304, "Not Modified", Headers(), b"x"),
            Response(103, "Early Hints", Headers(), b"x"),
            Response(200, "OK", Headers([("Content-Length", "3")]), b"ok"),
            Response(200, "OK", Headers([("Content-Length", "2"), ("Content-Length", "2")]), b"ok"),
            Response(200, "OK", Headers([("X", "a\nb")])),
        ],
    )
    def test_response_rejects_invalid(self, response):
        with pytest.raises(ValueError):
            response.serialize()


# ------------------------------------------------------------------------- parse_request


class TestParseRequest:
    @pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
    def test_incremental(self, kind):
        for end in range(len(RFC_REQUEST)):
            assert parse_request(kind(RFC_REQUEST[:end])) is None
        request, consumed = parse_request(kind(RFC_REQUEST + b"extra"))  # type: ignore[misc]
        assert consumed == len(RFC_REQUEST)
        assert request.headers.get_all("Sec-WebSocket-Protocol") == ["chat, superchat"]

    @pytest.mark.parametrize(
        "data, status",
        [
            (b"GET /chat HTTP/1.1\nHost: x\r\n\r\n", 400),  # from the kernel: bare LF
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 400),
            (b"POST /chat HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            (b"get /chat HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            (b"GET /chat HTTP/1.0\r\nHost: x\r\n\r\n", 505),
            (b"GET /chat HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            (b"GET /chat HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400),
            (b"GET /chat HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n", 400),
            (b"GET /chat HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 400),
            (b"GET /chat HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (b"GET /chat HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", 400),
            (b"GET /chat HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ],
    )
    def test_rejects(self, data, status):
        with pytest.raises(InvalidHTTP) as caught:
            parse_request(data, max_size=len(data) + 1)
        assert caught.value.status_code == status
        assert_complete_response(response_for(caught.value))
        if status == 405:
            assert response_for(caught.value).headers["Allow"] == "GET"

    def test_limits(self):
        with pytest.raises(InvalidHTTP) as caught:
            parse_request(RFC_REQUEST, max_size=64)
        assert caught.value.status_code == 431
        with pytest.raises(InvalidHTTP) as caught:
            parse_request(RFC_REQUEST, max_headers=3)
        assert caught.value.status_code == 431
        assert_complete_response(response_for(caught.value))

    def test_empty_body_is_fine(self):
        for length in (b"0", b"000"):
            data = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
            assert parse_request(data) is not None


# ------------------------------------------------------------------------- parse_response


class TestParseResponse:
    def test_101_ends_at_its_head(self):
        data = RFC_RESPONSE.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\n")
        response, consumed = parse_response(data + b"\x81\x05hello")  # type: ignore[misc]
        assert (response.status_code, response.body, consumed) == (101, b"", len(data))

    @pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
    def test_rejection_body_by_content_length(self, kind):
        data = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\nforbidden"
        for end in range(len(data)):
            assert parse_response(kind(data[:end])) is None
        response, consumed = parse_response(kind(data + b"more"))  # type: ignore[misc]
        assert (response.status_code, response.reason_phrase, response.body, consumed) == (
            403, "Forbidden", b"forbidden", len(data),
        )  # fmt: skip

    @pytest.mark.parametrize(
        "head",
        [
            b"HTTP/1.1 404 Not Found\r\n\r\n",  # no length: read as empty
            b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n",  # chunked: read as empty
            b"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n",
            b"HTTP/1.0 403 Forbidden\r\n\r\n",
            b"HTTP/1.1 400 \r\nContent-Length: 0\r\n\r\n",
        ],
    )
    def test_no_body(self, head):
        response, consumed = parse_response(head + b"4\r\nbody\r\n0\r\n\r\n")  # type: ignore[misc]
        assert (response.body, consumed) == (b"", len(head))

    def test_interim_responses_are_skipped(self):
        interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
        assert parse_response(interim) is None
        response, consumed = parse_response(interim + RFC_RESPONSE + b"\x81\x00")  # type: ignore[misc]
        assert (response.status_code, consumed) == (101, len(interim) + len(RFC_RESPONSE))
        assert "Link" not in response.headers
        # All heads together stay within max_size.
        with pytest.raises(InvalidHTTP) as caught:
            parse_response(interim * 200 + RFC_RESPONSE)
        assert caught.value.status_code == 431
        assert parse_response(interim + RFC_RESPONSE, max_size=len(interim) + len(RFC_RESPONSE)) is not None
        with pytest.raises(InvalidHTTP):
            parse_response(interim + RFC_RESPONSE, max_size=len(interim) + len(RFC_RESPONSE) - 1)

    def test_body_limit(self):
        head = b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n"
        body = b"x" * MAX_HTTP_BODY_SIZE
        response, _ = parse_response(head % len(body) + body)  # type: ignore[misc]
        assert response.body == body
        with pytest.raises(InvalidHTTP, match="max_body_size"):
            parse_response(head % (len(body) + 1))  # refused before the body arrives
        with pytest.raises(InvalidHTTP):
            parse_response(head % 11 + b"hello world", max_body_size=10)
        with pytest.raises(InvalidHTTP):
            parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", max_size=6000)

    @pytest.mark.parametrize(
        "data",
        [
            RFC_REQUEST,
            b"HTTP/1.1 099 Weird\r\n\r\n",
            b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.0 100 Continue\r\n\r\n",
            b"HTTP/2.0 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: +1\r\n\r\nx",
            b"HTTP/1.1 101 Switching\rProtocols\r\n\r\n",
        ],
    )
    def test_rejects(self, data):
        with pytest.raises(InvalidHTTP):
            parse_response(data)


# ------------------------------------------------------------------------- rejections


class TestReject:
    def test_reject(self):
        response = reject(403, "Origin not allowed: caf\u00e9")
        assert response.status_code == 403 and response.reason_phrase == "Forbidden"
        assert response.body == "Origin not allowed: caf\u00e9".encode()
        assert response.headers.items() == [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(response.body))),
            ("Connection", "close"),
        ]
        assert_complete_response(response)

    def test_reject_with_headers(self):
        response = reject(426, "upgrade", headers=[("Upgrade", "websocket"), ("Retry-After", "5")])
        assert response.headers["Connection"] == "Upgrade, close"  # RFC 9110 §7.8
        assert response.headers["Retry-After"] == "5"
        assert reject(499, "unknown status").reason_phrase == ""
        assert_complete_response(reject(499, ""))

    @pytest.mark.parametrize("status", [100, 101, 199, 204, 304])
    def test_reject_needs_a_status_with_a_body(self, status):
        with pytest.raises(ValueError):
            reject(status, "no")

    @pytest.mark.parametrize("name", ["Content-Length", "content-type", "Connection"])
    def test_reject_owns_some_headers(self, name):
        with pytest.raises(ValueError):
            reject(400, "no", headers=[(name, "x")])


# ------------------------------------------------------------------------- server


class TestServerRejects:
    @pytest.mark.parametrize(
        "drop, add, error, status",
        [
            (["Host"], [], InvalidHeader, 400),
            ([], [("Host", "other.example.com")], InvalidHeader, 400),
            (["Host"], [("Host", "")], InvalidHeader, 400),
            (["Host"], [("Host", "bad host")], InvalidHeader, 400),
            (["Host"], [("Host", "a/b")], InvalidHeader, 400),
            (["Upgrade"], [], InvalidUpgrade, 426),
            (["Upgrade"], [("Upgrade", "h2c")], InvalidUpgrade, 426),
            (["Upgrade"], [("Upgrade", "websocket2")], InvalidUpgrade, 426),
            (["Upgrade"], [("Upgrade", "web socket")], InvalidHeader, 400),  # does not even parse
            (["Connection"], [], InvalidUpgrade, 426),
            (["Connection"], [("Connection", "keep-alive")], InvalidUpgrade, 426),
            (["Connection"], [("Connection", "keep-alive upgrade")], InvalidHeader, 400),
            (["Sec-WebSocket-Version"], [], InvalidVersion, 426),
            (["Sec-WebSocket-Version"], [("Sec-WebSocket-Version", "8")], InvalidVersion, 426),
            (["Sec-WebSocket-Version"], [("Sec-WebSocket-Version", "13, 8")], InvalidVersion, 426),
            ([], [("Sec-WebSocket-Version", "13")], InvalidVersion, 426),
            (["Sec-WebSocket-Key"], [], InvalidHeader, 400),
            ([], [("Sec-WebSocket-Key", RFC_KEY)], InvalidHeader, 400),
            (["Sec-WebSocket-Key"], [("Sec-WebSocket-Key", "not base64 at all!!!!!!!")], InvalidHeader, 400),
            (["Sec-WebSocket-Key"], [("Sec-WebSocket-Key", base64.b64encode(b"x" * 15).decode())], InvalidHeader, 400),
            (["Sec-WebSocket-Key"], [("Sec-WebSocket-Key", base64.b64encode(b"x" * 17).decode())], InvalidHeader, 400),
            (["Sec-WebSocket-Key"], [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")], InvalidHeader, 400),
            (["Sec-WebSocket-Key"], [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ\xe9==")], InvalidHeader, 400),
            (["Origin"], [("Origin", "http://evil.example")], InvalidOrigin, 403),
            (["Origin"], [], InvalidOrigin, 403),
            ([], [("Origin", "http://example.com")], InvalidHeader, 400),
            ([], [("Sec-WebSocket-Protocol", "chat superchat")], InvalidHeader, 400),
            ([], [("Sec-WebSocket-Extensions", "x;")], InvalidHeader, 400),
        ],
    )
    def test_rejection(self, drop, add, error, status):
        server = ServerHandshake(origins=["http://example.com"], subprotocols=["chat"])
        with pytest.raises(error) as caught:
            server.accept(request_with(drop=drop, add=add))
        assert type(caught.value) is error
        assert caught.value.status_code == status
        response = response_for(caught.value)
        assert response.status_code == status
        assert response.body == str(caught.value).encode()
        assert_complete_response(response)
        if status == 426:
            assert response.headers["Upgrade"] == "websocket"
            assert response.headers["Connection"] == "Upgrade, close"
        if error is InvalidVersion:
            assert response.headers["Sec-WebSocket-Version"] == "13"

    def test_accepted_variants(self):
        server = ServerHandshake()
        for drop, add in [
            (["Upgrade"], [("Upgrade", "h2c, WebSocket")]),
            (["Upgrade"], [("Upgrade", "HTTP/2.0"), ("Upgrade", "WEBSOCKET")]),
            (["Connection"], [("Connection", "keep-alive, UPGRADE")]),
            (["Connection"], [("Connection", "keep-alive"), ("Connection", "upgrade")]),
            (["Origin"], []),
            (["Host"], [("Host", "[::1]:8080")]),
            (["Host"], [("Host", "127.0.0.1:80")]),
        ]:
            response, _, _ = server.accept(request_with(drop=drop, add=add))
            assert response.status_code == 101

    def test_origins(self):
        with_none = ServerHandshake(origins=["https://a.example", None])
        assert with_none.accept(request_with(drop=["Origin"]))[0].status_code == 101
        allowed = request_with(drop=["Origin"], add=[("Origin", "https://a.example")])
        assert with_none.accept(allowed)[0].status_code == 101
        with pytest.raises(InvalidOrigin) as caught:
            with_none.accept(request_with())
        assert (caught.value.name, caught.value.value) == ("Origin", "http://example.com")
        with pytest.raises(InvalidOrigin) as caught:
            ServerHandshake(origins=[]).accept(request_with(drop=["Origin"]))
        assert caught.value.value is None
        assert_complete_response(response_for(caught.value))

    def test_response_headers(self):
        response, subprotocol, extensions = ServerHandshake().accept(request_with())
        assert (subprotocol, extensions) == (None, [])
        assert response.headers.items() == [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", RFC_ACCEPT),
            ("Server", SERVER),
        ]
        response, _, _ = ServerHandshake(server_header="edge/1", extra_headers=[("Set-Cookie", "a=1")]).accept(
            request_with()
        )
        assert response.headers.items()[3:] == [("Server", "edge/1"), ("Set-Cookie", "a=1")]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"extra_headers": [("Sec-WebSocket-Accept", "x")]},
            {"extra_headers": [("Connection", "close")]},
            {"extra_headers": [("server", "x")]},
            {"extra_headers": [("X", "a\r\nb")]},
            {"subprotocols": ["chat superchat"]},
        ],
    )
    def test_invalid_configuration(self, kwargs):
        with pytest.raises(ValueError):
            ServerHandshake(**kwargs)


class TestServerNegotiation:
    def test_subprotocol_preference_and_absence(self):
        request = request_with()  # offers chat, superchat
        assert ServerHandshake(subprotocols=["superchat", "chat"]).accept(request)[1] == "superchat"
        response, subprotocol, _ = ServerHandshake(subprotocols=["other"]).accept(request)
        assert subprotocol is None and "Sec-WebSocket-Protocol" not in response.headers
        assert ServerHandshake(subprotocols=["chat"]).accept(request_with(drop=["Sec-WebSocket-Protocol"]))[1] is None

    def test_select_subprotocol_hook(self):
        seen = []

        def select(request: Request, offered: Sequence[str]) -> str | None:
            seen.append((request.path, list(offered)))
            return offered[-1]

        server = ServerHandshake(subprotocols=["chat"], select_subprotocol=select)
        response, subprotocol, _ = server.accept(request_with())
        assert subprotocol == "superchat" == response.headers["Sec-WebSocket-Protocol"]
        assert seen == [("/chat", ["chat", "superchat"])]
        assert ServerHandshake(select_subprotocol=lambda request, offered: None).accept(request_with())[1] is None

    def test_select_subprotocol_refuses(self):
        def refuse(request: Request, offered: Sequence[str]) -> str | None:
            raise NegotiationError("no acceptable subprotocol")

        with pytest.raises(NegotiationError) as caught:
            ServerHandshake(select_subprotocol=refuse).accept(request_with())
        assert caught.value.status_code == 400
        assert_complete_response(response_for(caught.value))
        with pytest.raises(ValueError):  # an application bug, not the client's fault
            ServerHandshake(select_subprotocol=lambda request, offered: "other").accept(request_with())

    def test_extensions_in_client_order(self):
        offers = "x-b; p=1, x-unknown, x-a, x-b; p=2, x-a; q"
        factory_a, factory_b = FakeServerFactory("x-a"), FakeServerFactory("x-b", accepts=has("p", "2"))
        server = ServerHandshake(extensions=[factory_a, factory_b])
        response, _, extensions = server.accept(request_with(add=[("Sec-WebSocket-Extensions", offers)]))
        assert [(e.name, e.params) for e in extensions] == [("x-a", []), ("x-b", [("p", "2")])]
        assert parse_extensions(response.headers.get_all("Sec-WebSocket-Extensions")) == [
            ("x-a", []), ("x-b", [("p", "2")]),
        ]  # fmt: skip
        # Each factory saw its offers with the extensions accepted before them; the second x-a was declined.
        assert [params for params, _ in factory_b.seen] == [[("p", "1")], [("p", "2")]]
        assert factory_a.seen == [([], []), ([("q", None)], [extensions[0], extensions[1]])]

    def test_declined_offer_tries_the_next_factory(self):
        picky = FakeServerFactory("x", accepts=has("mode", "fast"))
        lenient = FakeServerFactory("x", answer=[("mode", "slow")])
        server = ServerHandshake(extensions=[picky, lenient])
        response, _, extensions = server.accept(request_with(add=[("Sec-WebSocket-Extensions", "x; mode=cheap")]))
        assert response.headers["Sec-WebSocket-Extensions"] == "x; mode=slow"
        assert len(picky.seen) == len(lenient.seen) == 1 and len(extensions) == 1

    def test_no_agreement(self):
        server = ServerHandshake(extensions=[FakeServerFactory("x", accepts=lambda params: False)])
        response, _, extensions = server.accept(request_with(add=[("Sec-WebSocket-Extensions", "x, y")]))
        assert extensions == [] and "Sec-WebSocket-Extensions" not in response.headers


class TestProcessRequest:
    """websockets' process_request and process_response rules, in one place for every I/O layer:
    ServerConnection.settle_request and settle_response."""

    @staticmethod
    def held(request: Request, **options) -> ServerConnection:
        server = ServerConnection(ServerHandshake(), hold_request=True, **options)
        server.receive_data(request.serialize())
        assert server.request_waiting
        return server

    def test_answer_instead_of_upgrading_or_go_on(self):
        plain = self.held(Request("/healthz", Headers([("Host", "example.com")])))  # not even a WebSocket request
        assert plain.settle_request(reject(200, "OK"), None) is None
        assert plain.state is State.CLOSED and plain.response == reject(200, "OK")
        assert plain.data_to_send().startswith(b"HTTP/1.1 200 OK\r\n")
        upgrade = self.held(request_with())
        assert upgrade.settle_request(None, None) is None
        assert upgrade.state is State.OPEN and upgrade.response.status_code == 101

    def test_a_handshake_error_refuses_with_its_status(self):
        server = self.held(request_with())
        refusal = InvalidOrigin("Origin", None)
        assert server.settle_request(None, refusal) is None
        assert (server.response.status_code, server.handshake_error) == (403, refusal)
        assert_complete_response(server.response)

    @pytest.mark.parametrize(("answer", "error", "failure"), [
        (Response(101, "Switching Protocols", Headers()), None, TypeError),  # only the handshake upgrades
        ("not a response", None, TypeError),
        (None, RuntimeError("bug"), RuntimeError),
    ])  # fmt: skip
    def test_a_failing_hook_answers_500_and_hands_back_the_failure(self, answer, error, failure):
        server = self.held(request_with())
        assert isinstance(server.settle_request(answer, error), failure)
        assert server.response.status_code == 500 and server.state is State.CLOSED

    def test_process_response_sends_the_answer_changed_or_another(self):
        server = self.held(request_with(), hold_response=True)
        server.settle_request(None, None)
        assert server.response_waiting
        server.response.headers["X-Seen"] = "yes"
        assert server.settle_response(None, None) is None
        assert server.state is State.OPEN and b"X-Seen: yes" in server.data_to_send()
        instead = self.held(request_with(), hold_response=True)
        instead.settle_request(None, None)
        assert instead.settle_response(reject(404, "gone"), None) is None
        assert instead.response.status_code == 404 and instead.state is State.CLOSED

    @pytest.mark.parametrize(("answer", "error", "failure"), [
        (Response(101, "Switching Protocols", Headers()), None, ValueError),
        (42, None, TypeError),
        (None, RuntimeError("bug"), RuntimeError),
    ])  # fmt: skip
    def test_a_failing_process_response_answers_500(self, answer, error, failure):
        server = self.held(request_with(), hold_response=True)
        server.settle_request(None, None)
        assert isinstance(server.settle_response(answer, error), failure)
        assert server.response.status_code == 500 and server.state is State.CLOSED

    def test_nothing_to_settle_once_answered(self):
        server = self.held(request_with())
        server.settle_request(None, None)
        assert server.settle_request(reject(403, "late"), None) is None
        assert server.settle_response(reject(403, "late"), None) is None
        assert server.response.status_code == 101


# ------------------------------------------------------------------------- client


class TestClientRequest:
    def test_request(self):
        client = ClientHandshake(
            "example.com:8080", "/a?b=c", origin="https://example.com", subprotocols=["v1"],
            extensions=[FakeClientFactory("x", [("a", "1"), ("b", None)])],
            extra_headers=Headers([("Cookie", "s=1")]), user_agent="bot/2",
        )  # fmt: skip
        assert client.request.path == "/a?b=c"
        assert client.request.headers.items() == [
            ("Host", "example.com:8080"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", client.key),
            ("Sec-WebSocket-Version", "13"),
            ("Origin", "https://example.com"),
            ("Sec-WebSocket-Protocol", "v1"),
            ("Sec-WebSocket-Extensions", "x; a=1; b"),
            ("Cookie", "s=1"),
            ("User-Agent", "bot/2"),
        ]
        assert len(base64.b64decode(client.key)) == 16

    def test_defaults(self):
        client = ClientHandshake("example.com")
        assert client.request.path == "/"
        assert client.request.headers["User-Agent"] == USER_AGENT
        assert "Origin" not in client.request.headers and "Sec-WebSocket-Protocol" not in client.request.headers
        assert ClientHandshake("example.com").key != client.key
        assert "User-Agent" not in ClientHandshake("example.com", user_agent=None).request.headers

    @pytest.mark.parametrize(
        "args, kwargs",
        [
            (("",), {}),
            (("bad host",), {}),
            (("example.com\r\nX: y",), {}),
            (("example.com", "chat"), {}),
            (("example.com", "/a b"), {}),
            (("example.com",), {"key": "short"}),
            (("example.com",), {"origin": "https://a\r\nX: y"}),
            (("example.com",), {"user_agent": "bot\n"}),
            (("example.com",), {"subprotocols": ["a b"]}),
            (("example.com",), {"extensions": [FakeClientFactory("x", [("a", "b c")])]}),
            (("example.com",), {"extra_headers": [("Host", "other")]}),
            (("example.com",), {"extra_headers": [("Sec-WebSocket-Key", RFC_KEY)]}),
            (("example.com",), {"extra_headers": {"User-Agent": "x"}}),
        ],
    )
    def test_invalid(self, args, kwargs):
        with pytest.raises(ValueError):
            ClientHandshake(*args, **kwargs)


class TestClientResponse:
    def client(self, **kwargs: object) -> ClientHandshake:
        return ClientHandshake("server.example.com", "/chat", key=RFC_KEY, **kwargs)  # type: ignore[arg-type]

    def test_non_101(self):
        data = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 14\r\n\r\nnot on my lawn"
        response, _ = parse_response(data)  # type: ignore[misc]
        with pytest.raises(InvalidStatus) as caught:
            self.client().process_response(response)
        assert caught.value.response is response
        assert caught.value.response.body == b"not on my lawn"
        assert "403" in str(caught.value)

    @pytest.mark.parametrize(
        "drop, add, error",
        [
            (["Upgrade"], [], InvalidUpgrade),
            (["Upgrade"], [("Upgrade", "h2c")], InvalidUpgrade),
            (["Upgrade"], [("Upgrade", "websocket, h2c")], InvalidUpgrade),  # exactly websocket (§4.1)
            (["Upgrade"], [("Upgrade", "web socket")], InvalidHeader),
            (["Connection"], [], InvalidUpgrade),
            (["Connection"], [("Connection", "keep-alive")], InvalidUpgrade),
            (["Sec-WebSocket-Accept"], [], InvalidHeader),
            ([], [("Sec-WebSocket-Accept", RFC_ACCEPT)], InvalidHeader),
            (["Sec-WebSocket-Accept"], [("Sec-WebSocket-Accept", accept_key(generate_key()))], InvalidHeader),
            (["Sec-WebSocket-Accept"], [("Sec-WebSocket-Accept", RFC_ACCEPT.lower())], InvalidHeader),
            ([], [("Sec-WebSocket-Protocol", "superchat")], NegotiationError),
            ([], [("Sec-WebSocket-Protocol", "chat, chat")], NegotiationError),
            ([], [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "chat")], NegotiationError),
            ([], [("Sec-WebSocket-Protocol", "")], InvalidHeader),
            ([], [("Sec-WebSocket-Extensions", "x-never-offered")], NegotiationError),
            ([], [("Sec-WebSocket-Extensions", "x; a=2")], NegotiationError),
            ([], [("Sec-WebSocket-Extensions", 'x; a="1 2"')], InvalidHeader),
        ],
    )
    def test_rejects(self, drop, add, error):
        factory = FakeClientFactory("x", [("a", "1")], accepts=has("a", "1"))
        client = self.client(subprotocols=["chat"], extensions=[factory])
        response = response_with(drop=drop, add=add)
        with pytest.raises(error) as caught:
            client.process_response(response)
        assert type(caught.value) is error
        assert caught.value.response is response  # type: ignore[attr-defined]
        assert isinstance(caught.value, InvalidHandshake)

    def test_accepted_variants(self):
        for drop, add in [
            (["Upgrade"], [("Upgrade", "WebSocket")]),
            (["Connection"], [("Connection", "keep-alive, UPGRADE")]),
        ]:
            assert self.client().process_response(response_with(drop=drop, add=add)) == (None, [])

    def test_extensions_in_server_order(self):
        factories = [FakeClientFactory("x"), FakeClientFactory("y", accepts=has("v", "2")), FakeClientFactory("y")]
        response = response_with(add=[("Sec-WebSocket-Extensions", "y; v=1"), ("Sec-WebSocket-Extensions", "x")])
        _, extensions = self.client(extensions=factories).process_response(response)
        assert [(e.name, e.params) for e in extensions] == [("y", [("v", "1")]), ("x", [])]
        assert factories[0].seen == [([], [extensions[0]])]
        assert len(factories[1].seen) == len(factories[2].seen) == 1  # first y declined, second took it
