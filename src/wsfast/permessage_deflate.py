"""The permessage-deflate extension (RFC 7692): DEFLATE-compressed messages. Sans-IO.

- :class:`PerMessageDeflate` is the agreed extension: ``encode`` compresses outgoing data frames,
  ``decode`` decompresses incoming ones, under a bound on the decompressed size.
- :class:`ClientPerMessageDeflateFactory` builds a client's offer and checks the server's answer;
  :class:`ServerPerMessageDeflateFactory` answers an offer. Both follow RFC 7692 §7.1 to the letter.

Decisions (each explained where it is made):

- Corrupt compressed data is a :class:`ProtocolError` with close code 1002 (``_inflate``).
- A window of 8 bits is compressed with a 512-byte window and distance-1 matches only, and
  decompressed with a 512-byte window (``_zlib.compressobj``, ``PerMessageDeflate.__init__``).
- Messages shorter than :data:`DEFAULT_MIN_SIZE` (32 bytes) are sent uncompressed.
- The DEFLATE library is zlib-ng, ISA-L or the standard library's zlib (see ``_zlib.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import _zlib
from .exceptions import NegotiationError, PayloadTooBig, ProtocolError
from .extensions import RSV1, ClientExtensionFactory, Extension, ExtensionParameters, ServerExtensionFactory
from .frames import Frame, encode_frame

__all__ = [
    "DEFAULT_MIN_SIZE",
    "DEFAULT_MEM_LEVEL",
    "DEFAULT_SERVER_WINDOW_BITS",
    "LOW_MEMORY",
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "ServerPerMessageDeflateFactory",
    "client_extensions",
    "server_extensions",
    "encode_shared",
]

#: Messages shorter than this are sent uncompressed. Below about 32 bytes a fresh DEFLATE stream is
#: no smaller than its input (a block header, then 8 or 9 bits a literal, then the empty-block
#: byte); with a shared window it can be, but it saves at most a few dozen bytes under the same
#: 2-byte frame header while costing a compressor and a decompressor call, one on each side.
DEFAULT_MIN_SIZE = 32

#: zlib's memLevel for compressors unless ``compress_settings`` says otherwise. With the 12-bit
#: windows serve() negotiates by default (DEFAULT_SERVER_WINDOW_BITS) a compressor takes about 20 KiB
#: instead of zlib's default 256 KiB (15 bits, memLevel 8), for a few percent of ratio on the
#: short messages WebSocket traffic mostly is; the figures are in benchmarks/RESULTS-memory.md.
#: websockets chose the same (its serve() negotiates 12 bits and uses memLevel 5).
DEFAULT_MEM_LEVEL = 5

#: The windows ``serve(compression="deflate")`` asks for, its own and (when the client offers to
#: be limited, as browsers do) the client's: 4 KiB each instead of 32 KiB. The factory itself
#: asks for nothing unless told.
DEFAULT_SERVER_WINDOW_BITS = 12

#: Factory arguments for the least memory per connection, for either factory:
#: ``ServerPerMessageDeflateFactory(**LOW_MEMORY)``. Neither end keeps a window between messages,
#: so an idle connection holds no zlib stream at all, and the streams of a message are small
#: (1 KiB windows, memLevel 1). Messages compress less well, each on its own; see
#: benchmarks/RESULTS-memory.md for what it saves.
LOW_MEMORY = {
    "server_no_context_takeover": True,
    "client_no_context_takeover": True,
    "server_max_window_bits": 10,
    "client_max_window_bits": 10,
    "compress_settings": {"memLevel": 1},
}

_NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"  # the end of an empty stored block, removed on the wire (§7.2.1)
_CONTINUATION, _TEXT, _BINARY = 0, 1, 2
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}  # "8" to "15", no sign, no leading zero
# zlib's values: level -1 (default, that is 6) or 0-9, memLevel 1-9, strategy 0 (default) to 4 (Z_FIXED).
_COMPRESS_SETTINGS = {"level": range(-1, 10), "memLevel": range(1, 10), "strategy": range(0, 5)}


def _check_window_bits(name: str, bits: object, *, allow_none: bool = False, allow_true: bool = False) -> None:
    if bits is None and allow_none:
        return
    if bits is True and allow_true:
        return
    if type(bits) is not int or not 8 <= bits <= 15:
        raise ValueError(f"{name} must be an integer from 8 to 15, not {bits!r}")


def _check_compress_settings(settings: Mapping[str, int] | None) -> dict[str, int]:
    settings = dict(settings or {})
    unknown = set(settings) - _COMPRESS_SETTINGS.keys()
    if unknown:
        raise ValueError(f"unknown compress_settings {', '.join(sorted(unknown))}: only level, memLevel, strategy")
    for name, value in settings.items():
        if type(value) is not int or value not in _COMPRESS_SETTINGS[name]:
            allowed = _COMPRESS_SETTINGS[name]
            raise ValueError(f"compress_settings {name} must be {allowed[0]} to {allowed[-1]}, not {value!r}")
    return settings


def _too_big(max_size: int) -> PayloadTooBig:
    return PayloadTooBig(f"decompressed message exceeds the size limit ({max_size} more bytes allowed)")


def _check_min_size(min_size: object) -> None:
    if type(min_size) is not int or min_size < 0:
        raise ValueError(f"min_size must be a non-negative integer, not {min_size!r}")


class PerMessageDeflate(Extension):
    """permessage-deflate as agreed: "local" is this endpoint's sending side, "remote" the peer's.

    Args:
        remote_no_context_takeover: the peer resets its window after each message; the decompressor
            is then reset too, so a back-reference into an earlier message is an error.
        local_no_context_takeover: start each message with a fresh compressor; the one used is
            released at the end of the message, so an idle connection holds none.
        remote_max_window_bits: the peer's window, 8 to 15.
        local_max_window_bits: this endpoint's window, 8 to 15.
        compress_settings: zlib settings for the compressor: ``level`` (-1 or 0-9, default -1, that
            is 6), ``memLevel`` (1-9, default :data:`DEFAULT_MEM_LEVEL`), ``strategy`` (a zlib
            strategy, default 0).
        min_size: unfragmented messages shorter than this many bytes are sent uncompressed.

    Raises:
        ValueError: a setting out of range.
    """

    name = _NAME
    rsv_bits = RSV1

    def __init__(
        self,
        remote_no_context_takeover: bool = False,
        local_no_context_takeover: bool = False,
        remote_max_window_bits: int = 15,
        local_max_window_bits: int = 15,
        compress_settings: Mapping[str, int] | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        _check_window_bits("remote_max_window_bits", remote_max_window_bits)
        _check_window_bits("local_max_window_bits", local_max_window_bits)
        _check_min_size(min_size)
        self.remote_no_context_takeover = bool(remote_no_context_takeover)
        self.local_no_context_takeover = bool(local_no_context_takeover)
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.min_size = min_size
        # zlib 1.2.8 and earlier silently compress with a 512-byte window when asked for 256 bytes,
        # and peers built on it do (Chromium bug 691074): decompress with at least 512 bytes. That
        # still accepts every valid stream, and costs 256 bytes of memory.
        self._decoder_bits = max(remote_max_window_bits, 9)
        # Made on first use: a connection that never compresses never pays for a window.
        self._encoder: _zlib.Compressor | None = None
        self._decoder: _zlib.Decompressor | None = None
        self._encoding = False  # between the first and the final frame of a compressed message sent
        self._decoding = False  # ... received

    @property
    def shared_key(self) -> tuple[int, int, int, int, int] | None:
        """What decides the bytes this endpoint sends for a message when it compresses each one
        afresh (``local_no_context_takeover``): its window, zlib settings and ``min_size``. Then
        endpoints with equal keys send equal frames, and :func:`encode_shared` makes one frame for
        all of them (a broadcast). None while the window carries over from message to message:
        a compressed frame then depends on the messages this connection sent before.
        """
        if not self.local_no_context_takeover:
            return None
        return (*self._compressor_settings(), self.min_size)

    def _compressor_settings(self) -> tuple[int, int, int, int]:
        """``_zlib.compressobj``'s arguments: window bits, level, memLevel, strategy."""
        settings = self.compress_settings
        return (self.local_max_window_bits, settings.get("level", -1), settings.get("memLevel", DEFAULT_MEM_LEVEL),
                settings.get("strategy", _zlib.Z_DEFAULT_STRATEGY))  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate(remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits}, "
            f"compress_settings={self.compress_settings}, min_size={self.min_size})"
        )

    # ------------------------------------------------------------------------------ receiving

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Decompress a received data frame if its message is compressed (RSV1 on its first frame).

        Args:
            frame: a TEXT, BINARY or CONTINUATION frame, in the order received. Control frames are
                returned unchanged.
            max_size: how many more bytes the current message may grow by, or None for no limit.
                Uncompressed frames are held to it too.

        Returns:
            The frame with its payload decompressed and RSV1 cleared.

        Raises:
            ProtocolError: RSV1 on a continuation frame, or data that does not decompress (1002).
            PayloadTooBig: the payload would exceed ``max_size`` bytes (1009); no more than
                ``max_size + 1`` bytes are ever produced.
        """
        if max_size is not None and max_size < 0:
            max_size = 0
        opcode = frame.opcode
        if opcode == _CONTINUATION:
            if frame.rsv1:
                raise ProtocolError("RSV1 set on a continuation frame (RFC 7692 §6.1)")
            if not self._decoding:
                return self._check_size(frame, max_size)
        elif opcode == _TEXT or opcode == _BINARY:
            if not frame.rsv1:
                self._decoding = False
                return self._check_size(frame, max_size)
        else:
            return frame
        fin = frame.fin
        # §7.2.2: append the empty stored block's end that the sender removed.
        payload = self._inflate(frame.payload + _TAIL if fin else frame.payload, max_size)
        if fin:
            self._decoding = False
            if self.remote_no_context_takeover:
                self._decoder = None
        else:
            self._decoding = True
        return Frame(opcode, payload, fin, False, frame.rsv2, frame.rsv3)

    @staticmethod
    def _check_size(frame: Frame, max_size: int | None) -> Frame:
        if max_size is not None and len(frame.payload) > max_size:
            raise PayloadTooBig(f"message exceeds the size limit by {len(frame.payload) - max_size} bytes")
        return frame

    def _inflate(self, data: bytes, max_size: int | None) -> bytes:
        # Corrupt data is a protocol error, close code 1002. RFC 7692 §7.2.2 only says to fail the
        # connection; 1007 (RFC 6455 §7.4.1) is for data inconsistent with the message's type, such
        # as text that is not UTF-8, checked after decompression. A stream that DEFLATE cannot
        # parse breaks the extension's framing instead, like a bad RSV bit, which is 1002.
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = _zlib.decompressobj(self._decoder_bits)
        try:
            if max_size is None:
                payload = decoder.decompress(data)
            else:
                # At most one byte beyond the limit: a small bomb never inflates in memory.
                payload = decoder.decompress(data, max_size + 1)
                if len(payload) > max_size or decoder.unconsumed_tail:
                    raise _too_big(max_size)
            if decoder.eof:
                payload += self._inflate_new_streams(max_size, len(payload))
        except _zlib.ERRORS as error:
            raise ProtocolError(f"invalid permessage-deflate data: {error}") from error
        return payload

    def _inflate_new_streams(self, max_size: int | None, produced: int) -> bytes:
        # A block with BFINAL set (§7.2.3.4) ends the DEFLATE stream; what follows, such as the
        # empty stored block appended on the final frame, starts a new one, with a fresh window.
        decoder = self._decoder
        assert decoder is not None
        chunks = []
        while decoder.eof:
            data = decoder.unused_data
            decoder = self._decoder = _zlib.decompressobj(self._decoder_bits)
            if not data:
                break
            if max_size is None:
                chunk = decoder.decompress(data)
            else:
                room = max_size - produced
                chunk = decoder.decompress(data, room + 1)
                if len(chunk) > room or decoder.unconsumed_tail:
                    raise _too_big(max_size)
            chunks.append(chunk)
            produced += len(chunk)
        return b"".join(chunks)

    # ------------------------------------------------------------------------------ sending

    def encode(self, frame: Frame) -> Frame:
        """Compress a data frame about to be sent.

        Whether a message is compressed is decided on its first frame: an unfragmented message
        shorter than ``min_size`` is not; every other one is, and its continuation frames follow.
        RSV1 is set on the first frame only. Control frames are returned unchanged.
        """
        opcode = frame.opcode
        if opcode == _CONTINUATION:
            if not self._encoding:
                return frame
        elif opcode == _TEXT or opcode == _BINARY:
            if frame.fin and len(frame.payload) < self.min_size:
                self._encoding = False
                return frame
        else:
            return frame
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = _zlib.compressobj(*self._compressor_settings())
        fin = frame.fin
        if fin:
            payload = _compress_to_end(encoder, frame.payload)
            self._encoding = False
            if self.local_no_context_takeover:
                # The window is forgotten after each message anyway: between messages the stream
                # is only a cache, so an idle connection keeps none (a new one costs about 1 us
                # at 10 window bits and memLevel 1, 40 us at 15 and 8).
                self._encoder = None
        else:
            payload = encoder.compress(frame.payload) + encoder.flush(_zlib.Z_SYNC_FLUSH)
            self._encoding = True
        return Frame(opcode, payload, fin, opcode != _CONTINUATION, frame.rsv2, frame.rsv3)


def _compress_to_end(encoder: _zlib.Compressor, data: bytes) -> bytes:
    """The last piece of a message, compressed and flushed, as it goes on the wire (§7.2.1)."""
    head = encoder.compress(data)
    tail = encoder.flush(_zlib.Z_SYNC_FLUSH)
    if tail.endswith(_TAIL):
        return head + tail[:-4]
    # §7.2.1: the data must end with an empty stored block, whose last 4 bytes go. After a flush
    # the stream is byte-aligned, so that block is 00 00 00 ff ff.
    payload = head + tail
    return payload[:-4] if payload.endswith(_TAIL) else payload + b"\x00"


def encode_shared(opcode: int, data: bytes, key: tuple[int, int, int, int, int]) -> bytes:
    """The whole unmasked frame of a text or binary message, as every endpoint whose
    :attr:`PerMessageDeflate.shared_key` is ``key`` sends it: uncompressed below its ``min_size``,
    else compressed afresh (RSV1 set). One such frame serves all those connections.
    """
    *compressor_settings, min_size = key
    if len(data) < min_size:
        return encode_frame(opcode, data)
    encoder = _zlib.compressobj(*compressor_settings)
    return encode_frame(opcode, _compress_to_end(encoder, data), rsv1=True)


# ------------------------------------------------------------------------------ negotiation


def _parse_params(params: ExtensionParameters, *, response: bool) -> dict[str, str | None]:
    """The parameters by name, checked against §7.1: known, not repeated, well-formed values.

    Raises:
        NegotiationError: a parameter is unknown, repeated, or has an invalid value.
    """
    what = "response" if response else "offer"
    found: dict[str, str | None] = {}
    for name, value in params:
        if name in found:
            raise NegotiationError(f"duplicate {name} in the {_NAME} {what}")
        if name == "server_no_context_takeover" or name == "client_no_context_takeover":
            if value is not None:
                raise NegotiationError(f"{name} takes no value in the {_NAME} {what}, got {value!r}")
        elif name == "server_max_window_bits" or name == "client_max_window_bits":
            # Only an offer's client_max_window_bits may come without a value (§7.1.2.2).
            if value not in _WINDOW_BITS and not (value is None and name == "client_max_window_bits" and not response):
                raise NegotiationError(f"invalid {name} in the {_NAME} {what}: {value!r} (must be 8 to 15)")
        else:
            raise NegotiationError(f"unknown parameter {name} in the {_NAME} {what}")
        found[name] = value
    return found


def _smallest(*bits: int | None) -> int | None:
    values = [value for value in bits if value is not None]
    return min(values) if values else None


def _bits(value: str | None) -> int | None:
    return None if value is None else _WINDOW_BITS[value]


def _check_not_accepted(accepted: Sequence[Extension]) -> None:
    if any(extension.name == _NAME for extension in accepted):
        raise NegotiationError(f"{_NAME} is already agreed")


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """A client's permessage-deflate offer (RFC 7692 §7.1).

    Args:
        server_no_context_takeover: ask the server to reset its window after each message.
        client_no_context_takeover: announce that this client resets its window after each message.
        server_max_window_bits: ask the server for a window of at most that many bits (8-15).
        client_max_window_bits: True (the default) lets the server limit this client's window; an
            integer (8-15) does the same and also promises at most that window; None does neither.
        compress_settings: see :class:`PerMessageDeflate`.
        min_size: see :class:`PerMessageDeflate`.

    Raises:
        ValueError: a setting out of range.
    """

    name = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = True,
        compress_settings: Mapping[str, int] | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits, allow_none=True)
        _check_window_bits("client_max_window_bits", client_max_window_bits, allow_none=True, allow_true=True)
        _check_min_size(min_size)
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.min_size = min_size

    def get_request_params(self) -> ExtensionParameters:
        """The offer's parameters, in the order of RFC 7692 §7.1."""
        params: ExtensionParameters = []
        if self.server_no_context_takeover:
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append(("client_max_window_bits", None))
        elif self.client_max_window_bits is not None:
            params.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return params

    def process_response_params(self, params: ExtensionParameters, accepted: Sequence[Extension]) -> PerMessageDeflate:
        """The extension the server's answer agrees on; local is the client's side.

        Raises:
            NegotiationError: permessage-deflate is already in ``accepted``; or the answer has an
                unknown, repeated or invalid parameter; omits server_no_context_takeover or
                server_max_window_bits that were asked for; has a server_max_window_bits larger
                than asked for; or has client_max_window_bits that was not offered (§7.1).
        """
        _check_not_accepted(accepted)
        found = _parse_params(params, response=True)

        # §7.1.1.1: a server accepting server_no_context_takeover includes it.
        server_no_context_takeover = "server_no_context_takeover" in found
        if self.server_no_context_takeover and not server_no_context_takeover:
            raise NegotiationError(f"the {_NAME} response lacks the server_no_context_takeover asked for")

        # §7.1.2.1: a server accepting server_max_window_bits answers with that value or less.
        value = found.get("server_max_window_bits")
        server_max_window_bits = 15 if value is None else _WINDOW_BITS[value]
        if self.server_max_window_bits is not None:
            if value is None:
                raise NegotiationError(f"the {_NAME} response lacks the server_max_window_bits asked for")
            if server_max_window_bits > self.server_max_window_bits:
                raise NegotiationError(
                    f"the {_NAME} response has server_max_window_bits={value}, "
                    f"more than the {self.server_max_window_bits} asked for"
                )

        # §7.1.2.2: only if offered; then the client may use up to that window. A value offered is
        # a promise the client keeps even when the server allows more.
        value = found.get("client_max_window_bits")
        if value is not None and self.client_max_window_bits is None:
            raise NegotiationError(f"the {_NAME} response has client_max_window_bits, which was not offered")
        client_max_window_bits = 15 if value is None else _WINDOW_BITS[value]
        if type(self.client_max_window_bits) is int:
            client_max_window_bits = min(client_max_window_bits, self.client_max_window_bits)

        # §7.1.1.2: the server may forbid the client's context takeover; if the client announced it
        # would not use it, it keeps its word whatever the answer.
        client_no_context_takeover = "client_no_context_takeover" in found or self.client_no_context_takeover

        return PerMessageDeflate(
            remote_no_context_takeover=server_no_context_takeover,
            local_no_context_takeover=client_no_context_takeover,
            remote_max_window_bits=server_max_window_bits,
            local_max_window_bits=client_max_window_bits,
            compress_settings=self.compress_settings,
            min_size=self.min_size,
        )


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """How a server answers permessage-deflate offers (RFC 7692 §7.1).

    Args:
        server_no_context_takeover: reset this server's window after each message.
        client_no_context_takeover: require the client to reset its window after each message.
        server_max_window_bits: this server's window, 8-15 (or less if the client asks).
        client_max_window_bits: limit the client's window to that many bits (8-15), if the client
            allows it (it offers client_max_window_bits).
        require_client_max_window_bits: decline offers that do not let the server limit the client's
            window (needs ``client_max_window_bits``).
        compress_settings: see :class:`PerMessageDeflate`.
        min_size: see :class:`PerMessageDeflate`.

    Raises:
        ValueError: a setting out of range, or ``require_client_max_window_bits`` alone.
    """

    name = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        require_client_max_window_bits: bool = False,
        compress_settings: Mapping[str, int] | None = None,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits, allow_none=True)
        _check_window_bits("client_max_window_bits", client_max_window_bits, allow_none=True)
        if require_client_max_window_bits and client_max_window_bits is None:
            raise ValueError("require_client_max_window_bits needs client_max_window_bits")
        _check_min_size(min_size)
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.require_client_max_window_bits = bool(require_client_max_window_bits)
        self.compress_settings = _check_compress_settings(compress_settings)
        self.min_size = min_size

    def process_request_params(
        self, params: ExtensionParameters, accepted: Sequence[Extension]
    ) -> tuple[ExtensionParameters, PerMessageDeflate]:
        """The answer to the offer ``params`` and the extension it agrees on; local is the server's side.

        Raises:
            NegotiationError: permessage-deflate is already in ``accepted``; the offer has an
                unknown, repeated or invalid parameter; or it lacks client_max_window_bits while
                ``require_client_max_window_bits`` is set. The server then tries the next offer.
        """
        _check_not_accepted(accepted)
        found = _parse_params(params, response=False)
        response: ExtensionParameters = []

        # §7.1.1.1: accepting server_no_context_takeover means including it.
        server_no_context_takeover = self.server_no_context_takeover or "server_no_context_takeover" in found
        if server_no_context_takeover:
            response.append(("server_no_context_takeover", None))

        # §7.1.1.2: the server may always forbid the client's context takeover; when the client
        # announces it will not use it, the answer says so, so both sides agree on the same thing.
        client_no_context_takeover = self.client_no_context_takeover or "client_no_context_takeover" in found
        if client_no_context_takeover:
            response.append(("client_no_context_takeover", None))

        # §7.1.2.1: the client's server_max_window_bits is a ceiling, answered with it or less.
        bits = _smallest(self.server_max_window_bits, _bits(found.get("server_max_window_bits")))
        server_max_window_bits = 15 if bits is None else bits
        if bits is not None:
            response.append(("server_max_window_bits", str(bits)))

        # §7.1.2.2: client_max_window_bits may be answered only if offered. A value in the offer is
        # the client's own ceiling: echoing it lets this server decompress with a smaller window.
        client_max_window_bits = 15
        if "client_max_window_bits" in found:
            bits = _smallest(self.client_max_window_bits, _bits(found["client_max_window_bits"]))
            if bits is not None:
                client_max_window_bits = bits
                response.append(("client_max_window_bits", str(bits)))
        elif self.require_client_max_window_bits:
            raise NegotiationError(f"the {_NAME} offer lacks client_max_window_bits, which this server requires")

        return response, PerMessageDeflate(
            remote_no_context_takeover=client_no_context_takeover,
            local_no_context_takeover=server_no_context_takeover,
            remote_max_window_bits=client_max_window_bits,
            local_max_window_bits=server_max_window_bits,
            compress_settings=self.compress_settings,
            min_size=self.min_size,
        )


def _check_compression(compression: str | None) -> None:
    if compression not in ("deflate", None):
        raise ValueError(f"compression must be 'deflate' or None, not {compression!r}")


def client_extensions(compression: str | None,
                      extensions: Sequence[ClientExtensionFactory] | None) -> list[ClientExtensionFactory]:  # fmt: skip
    """What a client offers: ``extensions`` when given, else permessage-deflate for
    ``compression="deflate"`` (no parameters: the server chooses) and nothing for None.

    Raises:
        ValueError: ``compression`` is neither "deflate" nor None.
    """
    _check_compression(compression)
    if extensions is not None:
        return list(extensions)
    return [ClientPerMessageDeflateFactory()] if compression == "deflate" else []


def server_extensions(compression: str | None,
                      extensions: Sequence[ServerExtensionFactory] | None) -> list[ServerExtensionFactory]:  # fmt: skip
    """What a server accepts: ``extensions`` when given, else permessage-deflate with 12-bit
    windows both ways (DEFAULT_SERVER_WINDOW_BITS: the memory figures chose it) for
    ``compression="deflate"``, and nothing for None.

    Raises:
        ValueError: ``compression`` is neither "deflate" nor None.
    """
    _check_compression(compression)
    if extensions is not None:
        return list(extensions)
    if compression != "deflate":
        return []
    return [ServerPerMessageDeflateFactory(server_max_window_bits=DEFAULT_SERVER_WINDOW_BITS,
                                           client_max_window_bits=DEFAULT_SERVER_WINDOW_BITS)]  # fmt: skip
