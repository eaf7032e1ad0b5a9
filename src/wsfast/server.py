"""The server side of a connection, sans-IO: the opening handshake, then the WebSocket protocol."""

from __future__ import annotations

from .connection import Connection, Role, State
from .extensions import Extension
from .exceptions import InvalidHandshake, InvalidHTTP, InvalidState
from .handshake import ServerHandshake, reject, response_for
from .http11 import Request, Response, parse_request
from .limits import MAX_FRAGMENTS, MAX_FRAME_SIZE, MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS, MAX_MESSAGE_SIZE

__all__ = ["ServerConnection"]

# an answer decided: the response, the subprotocol, the extensions agreed, the error it reports
_Answer = tuple[Response, str | None, list[Extension], InvalidHandshake | None]


def _internal_error() -> Response:
    """The answer when the application's hook failed: a new one each time, as hooks may change
    a response's headers."""
    return reject(500, "Internal Server Error")


class ServerConnection(Connection):
    """A server's connection, from the first byte of the upgrade request.

    While CONNECTING it reads the request and answers it: with 101 (the state becomes OPEN), with
    the application's own response (``hold_request``, then :meth:`settle_request` for websockets'
    ``process_request`` hook, or :meth:`respond`), or with a complete error response for a request
    that fails the checks (both end in CLOSED, with ``should_close_transport``).

    Args:
        handshake: the checks and answers; one :class:`ServerHandshake` can serve many
            connections. The default accepts any origin, no subprotocol and no extension.
        max_message_size: the largest message accepted, in bytes after decompression; None for
            no limit (as for :class:`Connection`).
        max_frame_size: the largest frame payload accepted, in bytes; None for no limit.
        max_fragments: the most frames one message may have; None for no limit.
        max_http_head_size: the most bytes the request head may take (431 beyond; 414 when the
            request line alone reaches it).
        max_http_headers: the most header lines in the request head (431 beyond).
        auto_pong: answer every ping with a pong carrying the same payload.
        stream_fragments: report text and binary data as fragments as frames arrive, instead of
            whole messages (see :class:`Connection`).
        hold_request: stop once the request is read (``request_waiting`` turns True) and let the
            caller answer it with :meth:`respond` or :meth:`reject`, for an I/O layer that
            decides asynchronously. Bytes that come meanwhile are kept for after the answer.
        hold_response: stop once the answer to the request is decided (``response_waiting``
            turns True), so that the caller can see and change it (websockets'
            ``process_response``), then send it with :meth:`send_response`.

    Attributes:
        request: the upgrade request, once read.
        response: the answer sent.
        subprotocol: the subprotocol agreed, or None.
    """

    def __init__(
        self,
        handshake: ServerHandshake | None = None,
        *,
        max_message_size: int | None = MAX_MESSAGE_SIZE,
        max_frame_size: int | None = MAX_FRAME_SIZE,
        max_fragments: int | None = MAX_FRAGMENTS,
        max_http_head_size: int = MAX_HTTP_HEAD_SIZE,
        max_http_headers: int = MAX_HTTP_HEADERS,
        auto_pong: bool = True,
        stream_fragments: bool = False,
        hold_request: bool = False,
        hold_response: bool = False,
    ) -> None:
        super().__init__(
            Role.SERVER,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            max_fragments=max_fragments,
            auto_pong=auto_pong,
            stream_fragments=stream_fragments,
            state=State.CONNECTING,
        )
        self.handshake = handshake if handshake is not None else ServerHandshake()
        self.max_http_head_size = max_http_head_size
        self.max_http_headers = max_http_headers
        self.hold_request = hold_request
        self.hold_response = hold_response
        # the answer decided and held for send_response: response, subprotocol, extensions, error
        self._held: _Answer | None = None
        self.request: Request | None = None
        self.response: Response | None = None
        self.subprotocol: str | None = None
        self._head = bytearray()

    def _receive_handshake(self, data: bytes | bytearray | memoryview) -> None:
        """Read the upgrade request from the client; frames follow once it is answered."""
        self._head += data
        if self.request is not None:
            return  # read already, held for respond()
        try:
            parsed = parse_request(self._head, max_size=self.max_http_head_size, max_headers=self.max_http_headers)
        except InvalidHTTP as error:
            self._reject(error)
            return
        if parsed is None:
            return
        self.request, consumed = parsed
        del self._head[:consumed]
        if not self.hold_request:
            self.respond()

    @property
    def request_waiting(self) -> bool:
        """True while a request read with ``hold_request`` waits for :meth:`respond` or :meth:`reject`."""
        return self.request is not None and self.response is None and self._state is State.CONNECTING

    @property
    def response_waiting(self) -> bool:
        """True while an answer decided with ``hold_response`` waits for :meth:`send_response`;
        it is :attr:`response` meanwhile."""
        return self._held is not None

    def respond(self, response: Response | None = None) -> None:
        """Answer the request: as the handshake decides (101, or an error response) when
        ``response`` is None, else with ``response`` instead of upgrading.

        Raises:
            InvalidState: no request is waiting for its answer.
            ValueError: ``response`` is a 101: only the handshake upgrades.
        """
        if not self.request_waiting:
            raise InvalidState("no request is waiting for an answer")
        assert self.request is not None
        if response is not None:
            if response.status_code == 101:
                raise ValueError("only the handshake answers 101")
            held: _Answer = (response, None, [], None)
        else:
            try:
                held = (*self.handshake.accept(self.request), None)
            except InvalidHandshake as error:
                held = (response_for(error), None, [], error)
        self._decided(held)

    def _decided(self, held: _Answer) -> None:
        """The answer is decided: send it, or hold it for send_response (``hold_response``)."""
        if self.hold_response:
            self._held = held
            self.response = held[0]  # for the caller to see, and to change
        else:
            self._send(*held)

    def send_response(self, response: Response | None = None) -> None:
        """Send the answer held with ``hold_response``: as decided (``response`` None, or the same
        object, whose headers may have been changed), or ``response`` instead, which then answers
        the request without upgrading.

        Raises:
            InvalidState: no answer is waiting to be sent.
            ValueError: ``response`` is another 101: only the handshake upgrades.
        """
        if self._held is None:
            raise InvalidState("no response is waiting to be sent")
        held, self._held = self._held, None
        if response is not None and response is not held[0]:
            if response.status_code == 101:
                self._held = held
                raise ValueError("only the handshake answers 101")
            held = (response, None, [], None)
        self._send(*held)

    def _send(self, response: Response, subprotocol: str | None, extensions: list[Extension],
              error: InvalidHandshake | None) -> None:  # fmt: skip
        if error is not None:
            self.handshake_error = error
        self._answer(response)
        if response.status_code != 101:  # refused, or answered instead of upgrading
            self._set_state(State.CLOSED)
            return
        self.subprotocol = subprotocol
        rest, self._head = bytes(self._head), bytearray()
        self._open(extensions, rest)

    def reject(self, error: InvalidHandshake) -> None:
        """Refuse the waiting request with the response ``error`` calls for (its status and message).

        Raises:
            InvalidState: no request is waiting for its answer.
        """
        if not self.request_waiting:
            raise InvalidState("no request is waiting for an answer")
        held: _Answer = (response_for(error), None, [], error)
        self._decided(held)

    def settle_request(self, answer: object, error: Exception | None) -> Exception | None:
        """Answer the waiting request as websockets' ``process_request(connection, request)`` hook
        decided, the one rule for every I/O layer: ``answer`` is what the hook returned, ``error``
        what it raised. A :class:`Response` (not a 101) is the answer; None goes on with the
        handshake; an :class:`InvalidHandshake` refuses with its status; anything else answers 500.

        Returns:
            The application's failure for the caller to log (what the hook raised, or a TypeError
            for what it returned), or None. Nothing is done if no request is waiting any more (the
            client left while an asynchronous hook ran).
        """
        if not self.request_waiting:
            return None
        if isinstance(error, InvalidHandshake):
            self.reject(error)
            return None
        if error is None and (answer is None or (isinstance(answer, Response) and answer.status_code != 101)):
            self.respond(answer)
            return None
        if error is None:
            error = TypeError(f"process_request must return a non-101 Response or None, not {answer!r}")
        self.respond(_internal_error())
        return error

    def settle_response(self, answer: object, error: Exception | None) -> Exception | None:
        """Send the held answer as websockets' ``process_response(connection, request, response)``
        hook decided: ``answer`` None sends :attr:`response` (whose headers the hook may have
        changed), a :class:`Response` (not another 101) is sent instead; a hook that raised, or
        returned anything else, answers 500.

        Returns:
            The application's failure for the caller to log, or None. Nothing is done if no answer
            is held any more.
        """
        if not self.response_waiting:
            return None
        if error is None:
            if answer is None or isinstance(answer, Response):
                try:
                    self.send_response(answer)
                    return None
                except ValueError as refused:  # another 101
                    error = refused
            else:
                error = TypeError(f"process_response must return a Response or None, not {answer!r}")
        self.send_response(_internal_error())
        return error

    def _answer(self, response: Response) -> None:
        self.response = response
        self._output.append(response.serialize())

    def _reject(self, error: InvalidHandshake | InvalidHTTP) -> None:
        self.handshake_error = error
        self._answer(response_for(error))
        self._set_state(State.CLOSED)
