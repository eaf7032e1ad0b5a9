"""Atheris target: the frame decoder (Python twin, and C at every SIMD level this CPU has).

Run on demand (not collected by pytest):

    python tests/fuzz/fuzz_frames.py -atheris_runs=100000 [corpus_dir]

Each input picks the decoder's options, an implementation, feed or feed_into, and chunks of every
buffer kind; the invariants are harness.check_frame_decoder's.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import harness

    from wsfast import _frames_py, _kernels

if _kernels.NO_EXTENSIONS:
    _kernels_c = None
    LEVELS: tuple[str, ...] = ()
else:
    from wsfast import _kernels_c

    LEVELS = _kernels_c.available_simd()

_LIMITS = (None, 0, 1, 125, 126, 65535, 65536, 1 << 20, (1 << 64) - 1)
_KINDS = harness.BUFFER_KINDS + (harness.NON_BUFFER,)


def _limit(provider: atheris.FuzzedDataProvider) -> int | None:
    choice = provider.ConsumeIntInRange(0, len(_LIMITS))
    return provider.ConsumeIntInRange(0, 300) if choice == len(_LIMITS) else _LIMITS[choice]


def TestOneInput(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    options = {
        "expect_masked": (None, True, False)[provider.ConsumeIntInRange(0, 2)],
        "max_frame_size": _limit(provider),
        "max_message_size": _limit(provider),
        "allowed_rsv": provider.ConsumeIntInRange(0, 7),
    }
    implementation = provider.ConsumeIntInRange(0, len(LEVELS))
    chunks = []
    for _ in range(provider.ConsumeIntInRange(0, 8)):
        kind = _KINDS[provider.ConsumeIntInRange(0, len(_KINDS) - 1)]
        chunks.append((provider.ConsumeBytes(provider.ConsumeIntInRange(0, 64)), kind))
    chunks.append((provider.ConsumeBytes(provider.remaining_bytes()), "bytes"))
    if implementation == 0:
        decoder_class = _frames_py.FrameDecoder
    else:
        assert _kernels_c is not None
        _kernels_c._select_simd(LEVELS[implementation - 1])
        decoder_class = _kernels_c.FrameDecoder
    into = (None, False, True)[provider.ConsumeIntInRange(0, 2)]  # feed, or feed_into without / with decoding
    try:
        harness.check_frame_decoder(decoder_class, options, chunks, into)
    except harness.KnownBug:
        pass


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
