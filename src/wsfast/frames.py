"""WebSocket frames (RFC 6455 §5): opcodes, close codes, the Frame value, close payloads, and the
codec that turns frames into bytes and back.

The types live in ``_wire.py``, below both codecs. :func:`encode_frame` and :class:`FrameDecoder`
are C where built and pure Python otherwise, as ``_kernels.py`` chose.
"""

from . import _wire
from ._kernels import FrameDecoder, encode_frame
from ._wire import *  # noqa: F403 - the wire types, named in __all__ below

__all__ = ["encode_frame", "FrameDecoder"]
__all__ += _wire.__all__
