"""Atheris target: the opening handshake. parse_request and parse_response on arbitrary bytes, and
ServerConnection / ClientConnection fed arbitrary or mutated upgrade requests and responses.

Run on demand (not collected by pytest):

    python tests/fuzz/fuzz_handshake.py -atheris_runs=100000 [corpus_dir]

The invariants are harness.check_parse_request, check_parse_response, check_server_handshake and
check_client_handshake's.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import harness

_PATHS = ("/chat", "/private/x", "/")


def _head_limit(provider: atheris.FuzzedDataProvider) -> int:
    return 8192 if provider.ConsumeBool() else provider.ConsumeIntInRange(0, 400)


def _headers_limit(provider: atheris.FuzzedDataProvider) -> int:
    return 128 if provider.ConsumeBool() else provider.ConsumeIntInRange(0, 12)


def _cuts(provider: atheris.FuzzedDataProvider) -> list[int]:
    return [provider.ConsumeIntInRange(0, 1 << 16) for _ in range(provider.ConsumeIntInRange(0, 5))]


def _mutated(provider: atheris.FuzzedDataProvider, valid: bytes) -> bytes:
    """``valid`` with a few byte edits the input chooses, then the input's remaining bytes."""
    data = bytearray(valid)
    for _ in range(provider.ConsumeIntInRange(0, 4)):
        where = provider.ConsumeIntInRange(0, len(data))
        kind = provider.ConsumeIntInRange(0, 2)
        if kind == 0 and where < len(data):
            data[where] = provider.ConsumeIntInRange(0, 255)
        elif kind == 1:
            del data[where : where + provider.ConsumeIntInRange(1, 8)]
        else:
            data[where:where] = provider.ConsumeBytes(provider.ConsumeIntInRange(1, 8))
    return bytes(data) + provider.ConsumeBytes(provider.ConsumeIntInRange(0, 24))


def TestOneInput(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    target = provider.ConsumeIntInRange(0, 3)
    structured = provider.ConsumeBool()
    options = provider.ConsumeIntInRange(0, len(harness.CLIENT_OPTIONS) - 1)
    handshake = provider.ConsumeIntInRange(0, len(harness.SERVER_HANDSHAKES) - 1)
    path = _PATHS[provider.ConsumeIntInRange(0, len(_PATHS) - 1)]
    try:
        if target in (0, 2):
            valid = harness.valid_request(options, path)
        else:
            valid = harness.valid_response(options, handshake, path)
        if structured:
            buffer = _mutated(provider, valid)
            split = provider.ConsumeIntInRange(0, 1 << 16)
        else:
            split = provider.ConsumeIntInRange(0, 1 << 16)
            buffer = provider.ConsumeBytes(provider.remaining_bytes())
        if target == 0:
            harness.check_parse_request(buffer, split, _head_limit(provider), _headers_limit(provider))
        elif target == 1:
            body_limit = 65536 if provider.ConsumeBool() else provider.ConsumeIntInRange(0, 40)
            harness.check_parse_response(buffer, split, _head_limit(provider), _headers_limit(provider), body_limit)
        elif target == 2:
            harness.check_server_handshake(handshake, buffer, _cuts(provider), _head_limit(provider),
                                           _headers_limit(provider), provider.ConsumeBool())
        else:
            harness.check_client_handshake(options, buffer, _cuts(provider), provider.ConsumeBool())
    except harness.KnownBug:
        pass


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
