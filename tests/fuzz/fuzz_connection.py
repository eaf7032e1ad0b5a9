"""Atheris target: ServerConnection / ClientConnection after a real handshake, with and without
permessage-deflate, fed valid, mutated and hostile traffic interleaved with API calls.

Run on demand (not collected by pytest):

    python tests/fuzz/fuzz_connection.py -atheris_runs=100000 [corpus_dir]

Each input is decoded into a harness.ConnectionConfig and a list of harness.ConnectionSession
operations; the invariants are the session's, and the same session on the pure-Python twins must
show the same transcript after every operation (events, frames sent, states, close codes, failures,
API outcomes).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import harness

_LIMITS = (None, 0, 125, 1000, 1 << 20)
_CODES = harness.SENDABLE_CODES + harness.UNSENDABLE_CODES


def _limit(provider: atheris.FuzzedDataProvider) -> int | None:
    choice = provider.ConsumeIntInRange(0, len(_LIMITS))
    return provider.ConsumeIntInRange(0, 3000) if choice == len(_LIMITS) else _LIMITS[choice]


def _bits(provider: atheris.FuzzedDataProvider) -> int | None:
    value = provider.ConsumeIntInRange(7, 15)
    return None if value == 7 else value


def _text(provider: atheris.FuzzedDataProvider, most: int = 40) -> str:
    return provider.ConsumeUnicodeNoSurrogates(provider.ConsumeIntInRange(0, most))


def _bytes(provider: atheris.FuzzedDataProvider, most: int = 60) -> bytes:
    return provider.ConsumeBytes(provider.ConsumeIntInRange(0, most))


def _cuts(provider: atheris.FuzzedDataProvider) -> list[int]:
    return [provider.ConsumeIntInRange(0, 1 << 16) for _ in range(provider.ConsumeIntInRange(0, 5))]


def _utf8(provider: atheris.FuzzedDataProvider) -> str | bytes:
    text = _text(provider)
    return text.encode("utf-8") if provider.ConsumeBool() else text


def _operation(provider: atheris.FuzzedDataProvider) -> tuple:
    choice = provider.ConsumeIntInRange(0, 18)
    if choice == 0:
        return ("peer_text", _text(provider))
    if choice == 1:
        return ("peer_binary", _bytes(provider) if provider.ConsumeBool() else b"\x07" * provider.ConsumeIntInRange(0, 5000))
    if choice == 2:
        text = provider.ConsumeBool()
        data = _text(provider).encode("utf-8") if text else _bytes(provider)
        return ("peer_fragmented", text, data, _cuts(provider), provider.ConsumeBool())
    if choice in (3, 4):
        return ("peer_ping" if choice == 3 else "peer_pong", _bytes(provider, 125))
    if choice == 5:
        code = harness.SENDABLE_CODES[provider.ConsumeIntInRange(0, len(harness.SENDABLE_CODES) - 1)]
        return ("peer_close", code, _text(provider, 20)) if provider.ConsumeBool() else ("peer_close", None, "")
    if choice == 6:
        return ("raw", _bytes(provider, 30))
    if choice == 7:
        flags = [provider.ConsumeBool() for _ in range(4)]
        return ("frame", provider.ConsumeIntInRange(0, 15), _bytes(provider, 140), *flags,
                provider.ConsumeIntInRange(0, 7) != 0)
    if choice == 8:
        size = provider.ConsumeIntInRange(0, 300_000)
        return ("bomb", size, provider.ConsumeIntInRange(1, 4), provider.ConsumeBool(), True)
    if choice == 9:
        return ("mutate", provider.ConsumeIntInRange(0, 4), provider.ConsumeIntInRange(0, 1 << 16), _bytes(provider, 4))
    if choice in (10, 11, 12):
        return ("deliver", _cuts(provider))
    if choice == 13:
        return ("send_text", _utf8(provider), provider.ConsumeBool())
    if choice == 14:
        return ("send_binary", _bytes(provider), provider.ConsumeBool())
    if choice == 15:
        return ("send_continuation", _utf8(provider), provider.ConsumeBool())
    if choice == 16:
        return ("ping" if provider.ConsumeBool() else "pong", _bytes(provider, 130))
    if choice == 17:
        code = None if provider.ConsumeIntInRange(0, 9) == 0 else _CODES[provider.ConsumeIntInRange(0, len(_CODES) - 1)]
        return ("close", code, _text(provider, 70) if provider.ConsumeBool() else "")
    return ("eof",)


def TestOneInput(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    deflate = None
    if provider.ConsumeBool():
        client_bits: int | bool | None = _bits(provider)
        if client_bits is None and provider.ConsumeBool():
            client_bits = True
        deflate = (provider.ConsumeBool(), provider.ConsumeBool(), _bits(provider), client_bits)
    config = harness.ConnectionConfig(
        side="server" if provider.ConsumeBool() else "client",
        deflate=deflate,
        max_message_size=_limit(provider),
        max_frame_size=_limit(provider),
        stream_fragments=provider.ConsumeBool(),
        auto_pong=provider.ConsumeBool(),
        on_data=provider.ConsumeBool(),
    )
    ops = [_operation(provider) for _ in range(provider.ConsumeIntInRange(0, 24))]
    native = harness.transcript(config, ops, twins=False)
    if native != harness.transcript(config, ops, twins=True):
        harness.fail(f"C and Python disagree on {config!r} {ops!r}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
