"""The hot kernels of wsfast, in C where built and in pure Python otherwise.

========================  ===================================================================
``mask``                  XOR a payload with a 4-byte key into new bytes (RFC 6455 §5.3)
``mask_into``             the same in place, resumable at any key offset
``validate_utf8``         whole-buffer UTF-8 validation (RFC 3629)
``Utf8Validator``         incremental, fail-fast UTF-8 validation across pieces
``parse_frame_header``    one frame header (RFC 6455 §5.2)
``parse_http_head``       an HTTP/1.1 request or response head (RFC 9112)
``encode_frame``          one frame on the wire (also in ``wsfast.frames``)
``FrameDecoder``          bytes in, validated frames out (also in ``wsfast.frames``)
``take_frame``            the whole frame at the front of a bytearray, checking only its header
``PayloadFill``           a large frame's payload read, unmasked, straight into its final object
``IMPLEMENTATION``        ``"c"`` or ``"python"``
``SIMD``                  the SIMD level chosen at import (None for Python)
``available_simd()``      the SIMD levels this CPU offers the C kernels
========================  ===================================================================
"""

from ._kernels import *  # noqa: F403 - the names of the table above, as _kernels chose them
from ._kernels import __all__
