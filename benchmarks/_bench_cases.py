"""What the kernel benchmarks measure: inputs, contenders and peers, shared by report.py and pytest.

Every contender is one Python *expression* over a few bound names (``data``, ``key`` and whatever the
contender needs). ``report.py`` pastes the expression into a ``timeit`` loop, with every name a local,
so the measured cost is the call itself plus a few nanoseconds of loop; the pytest-benchmark file wraps
the same expression in a ``lambda``. Peers are optional: a peer that does not import yields a
contender with a ``skip`` reason instead of a callable.

Inputs are deterministic (seeded), so two runs time the same bytes. In-place contenders of one size
share one bytearray and the copying contenders share one bytes object, so that no contender gets a
luckier buffer alignment than the one it is compared with.
"""

from __future__ import annotations

import importlib
import platform
import random
from dataclasses import dataclass, field
from typing import Any, Callable

KIB = 1024
MIB = 1024 * KIB

#: The payload sizes of the issue: tiny control frame, the 125-byte control limit, then bulk data.
SIZES = (16, 125, KIB, 16 * KIB, 64 * KIB, MIB, 16 * MIB)
#: Sizes at which every SIMD level of the C kernels is run.
SIMD_SIZES = (KIB, 64 * KIB)

KEY = b"\x37\xfa\x21\x3d"

TEXT_KINDS = ("ascii", "mixed", "cjk")

_TEXT_UNITS = {
    # English prose: pure ASCII.
    "ascii": "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ",
    # Latin with diacritics, Greek, Cyrillic, CJK and emoji, interleaved so every slice is mixed.
    "mixed": (
        "Ελλάδα Grüße 中文 😀 Привет naïve 日本語 🚀 Καλημέρα café 한국어 Здравствуйте 🎉 "
        "Zürich straße Αθήνα Москва 東京 façade 😊 "
    ),
    # Chinese, Japanese and Korean only: 3-byte sequences throughout.
    "cjk": "中文字符测试，日本語のテキストです。한국어 텍스트입니다。汉字漢字かな。",
}


def size_label(size: int) -> str:
    """16 B, 1 KiB, 16 MiB, ..."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} B"


def payload(size: int) -> bytes:
    """``size`` pseudo-random bytes, the same on every run."""
    return random.Random(size).randbytes(size)


def text(kind: str, size: int) -> bytes:
    """Exactly ``size`` bytes of valid UTF-8 of one kind, cut at a code-point boundary and padded
    with ASCII spaces."""
    unit = _TEXT_UNITS[kind].encode("utf-8")
    raw = unit * (size // len(unit) + 1)
    cut = size
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # raw[cut] would start the next code point
        cut -= 1
    data = raw[:cut] + b" " * (size - cut)
    data.decode("utf-8")  # valid, or this raises
    assert len(data) == size
    return data


# ------------------------------------------------------------------------------------------ peers


@dataclass
class Peer:
    """An optional peer library: ``names`` to bind in expressions, or ``skip`` saying why not."""

    name: str
    names: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    skip: str | None = None


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - a version is only informative
        return None


def _import(module: str, attr: str) -> Any:
    return getattr(importlib.import_module(module), attr)


def _first(*locations: tuple[str, str]) -> tuple[Any, str]:
    errors = []
    for module, attr in locations:
        try:
            return _import(module, attr), f"{module}.{attr}"
        except (ImportError, AttributeError) as error:
            errors.append(f"{module}.{attr}: {error}")
    raise ImportError("; ".join(errors))


def load_peers() -> dict[str, Peer]:
    """Every peer of the issue, imported if installed."""
    peers: dict[str, Peer] = {}

    def add(name: str, dist: str, loader: Callable[[], dict[str, Any]], hint: str = "") -> None:
        try:
            names = loader()
        except Exception as error:  # noqa: BLE001 - any import failure means "not available"
            reason = f"{name} is not available ({type(error).__name__}: {error})"
            peers[name] = Peer(name, skip=reason + (f"; {hint}" if hint else ""))
            return
        peers[name] = Peer(name, names, _version(dist))

    add("websockets", "websockets", lambda: {"ws_apply_mask": _import("websockets.speedups", "apply_mask")})

    def aiohttp_c() -> dict[str, Any]:
        # aiohttp >= 3.10: the Cython kernel lives in aiohttp/_websocket/mask.pyx.
        fn, _ = _first(("aiohttp._websocket.mask", "_websocket_mask_cython"),
                       ("aiohttp._websocket", "_websocket_mask_cython"))
        return {"aio_mask": fn}

    def aiohttp_py() -> dict[str, Any]:
        fn, _ = _first(("aiohttp._websocket.helpers", "_websocket_mask_python"),
                       ("aiohttp.http_websocket", "_websocket_mask_python"))
        return {"aio_mask_py": fn}

    add("aiohttp", "aiohttp", aiohttp_c, "the Cython extension is missing (AIOHTTP_NO_EXTENSIONS build?)")
    add("aiohttp-python", "aiohttp", aiohttp_py)
    add("tornado", "tornado", lambda: {"tornado_mask": _import("tornado.speedups", "websocket_mask")})
    add("wsaccel", "wsaccel",
        lambda: {"wsaccel_Masker": _import("wsaccel.xormask", "XorMaskerSimple"),
                 "wsaccel_Utf8": _import("wsaccel.utf8validator", "Utf8Validator")},
        "pip install wsaccel (a Cython sdist where no wheel fits)")
    add("wsproto", "wsproto", lambda: {"wsproto_Masker": _import("wsproto.frame_protocol", "XorMaskerSimple")})
    add("h11", "h11", lambda: {"h11": importlib.import_module("h11")})
    return peers


# ------------------------------------------------------------------------------------- contenders


@dataclass
class Case:
    """One contender: ``expr`` evaluated with ``names`` plus the input bound as ``data``."""

    label: str
    expr: str
    names: dict[str, Any]
    #: "bytes", "bytearray" (masked in place; shared by the in-place contenders) or "text"
    input: str = "bytes"
    skip: str | None = None
    #: C SIMD level to select while this case runs (None: leave the default)
    simd: str | None = None

    def bind(self, data: Any) -> dict[str, Any]:
        return {**self.names, "data": data, "key": KEY}

    def function(self, data: Any) -> Callable[[], Any]:
        """A zero-argument callable running the expression once (for pytest-benchmark)."""
        return eval(f"lambda: {self.expr}", self.bind(data))  # noqa: S307 - our own expressions


def _kernels() -> tuple[Any, Any]:
    from wsfast import _kernels_c, _kernels_py

    return _kernels_c, _kernels_py


def mask_cases(peers: dict[str, Peer]) -> list[Case]:
    """Masking, new-bytes and in-place, wsfast and peers; the copy baseline last."""
    c, py = _kernels()

    def peer(name: str, label: str, expr: str, input: str = "bytes") -> Case:
        p = peers[name]
        return Case(label, expr, p.names, input, p.skip)

    return [
        Case("wsfast mask_into (C)", "mask_into(data, key)", {"mask_into": c.mask_into}, "bytearray"),
        peer("aiohttp", "aiohttp websocket_mask (Cython, in place)", "aio_mask(key, data)", "bytearray"),
        Case("wsfast mask (C)", "mask(data, key)", {"mask": c.mask}),
        peer("websockets", "websockets apply_mask (C)", "ws_apply_mask(data, key)"),
        peer("tornado", "tornado websocket_mask (C)", "tornado_mask(key, data)"),
        peer("wsaccel", "wsaccel XorMaskerSimple (Cython)", "wsaccel_Masker(key).process(data)"),
        Case("copy baseline bytearray(data)", "bytearray(data)", {}),
        Case("wsfast mask (Python twin)", "py_mask(data, key)", {"py_mask": py.mask}),
        Case("wsfast mask_into (Python twin)", "py_mask_into(data, key)", {"py_mask_into": py.mask_into},
             "bytearray"),
        peer("wsproto", "wsproto XorMaskerSimple (translate)", "wsproto_Masker(key).process(data)"),
        peer("aiohttp-python", "aiohttp _websocket_mask_python (translate, in place)",
             "aio_mask_py(key, data)", "bytearray"),
    ]


def utf8_cases(peers: dict[str, Peer]) -> list[Case]:
    c, py = _kernels()
    wsaccel = peers["wsaccel"]
    return [
        Case("wsfast validate_utf8 (C)", "validate(data)", {"validate": c.validate_utf8}, "text"),
        Case("wsfast Utf8Validator feed+finish (C)", "(v := Validator()).feed(data) and v.finish()",
             {"Validator": c.Utf8Validator}, "text"),
        Case("bytes.decode('utf-8')", "data.decode('utf-8')", {}, "text"),
        Case("wsfast validate_utf8 (Python twin)", "py_validate(data)", {"py_validate": py.validate_utf8},
             "text"),
        Case("wsaccel Utf8Validator.validate (Cython)", "wsaccel_Utf8().validate(data)", wsaccel.names,
             "text", wsaccel.skip),
    ]


def simd_levels() -> tuple[str, ...]:
    """The SIMD levels of this architecture, supported by the CPU or not."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return ("scalar", "neon")
    if machine in ("x86_64", "amd64", "i386", "i686", "x86"):
        return ("scalar", "sse2", "avx2", "avx512")
    return ("scalar",)


def simd_cases(kind: str) -> list[Case]:
    """The C kernel of one ``kind`` ("mask_into", "mask" or "validate_utf8") at every SIMD level."""
    c, _ = _kernels()
    available = c.available_simd()
    function, input = {
        "mask_into": (c.mask_into, "bytearray"),
        "mask": (c.mask, "bytes"),
        "validate_utf8": (c.validate_utf8, "text"),
    }[kind]
    expr = "f(data)" if kind == "validate_utf8" else "f(data, key)"
    return [
        Case(f"{kind} [{level}]", expr, {"f": function}, input,
             None if level in available else f"this CPU lacks {level}", level)
        for level in simd_levels()
    ]


FRAME_HEADERS = {
    "2 B (server, 5 B text)": b"\x81\x05",
    "6 B (client, 125 B)": b"\x81\xfd" + KEY,
    "8 B (client, 64 KiB)": b"\x82\xfe\xff\xff" + KEY,
    "14 B (client, 16 MiB)": b"\x82\xff" + (16 * MIB).to_bytes(8, "big") + KEY,
}

HTTP_REQUEST = (
    b"GET /chat?room=lobby HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: */*\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Origin: https://server.example.com\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Connection: keep-alive, Upgrade\r\n"
    b"Cookie: session=0123456789abcdef0123456789abcdef\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Upgrade: websocket\r\n"
    b"\r\n"
)


def frame_header_cases() -> list[Case]:
    c, py = _kernels()
    return [
        Case("wsfast parse_frame_header (C)", "f(data)", {"f": c.parse_frame_header}),
        Case("wsfast parse_frame_header (Python twin)", "f(data)", {"f": py.parse_frame_header}),
    ]


def http_head_cases(peers: dict[str, Peer]) -> list[Case]:
    c, py = _kernels()
    h11 = peers["h11"]
    return [
        Case("wsfast parse_http_head (C)", "f(data)", {"f": c.parse_http_head}),
        Case("wsfast parse_http_head (Python twin)", "f(data)", {"f": py.parse_http_head}),
        Case("h11 Connection.receive_data + next_event (Python)",
             "((conn := h11.Connection(h11.SERVER)).receive_data(data), conn.next_event())",
             h11.names, "bytes", h11.skip),
    ]
