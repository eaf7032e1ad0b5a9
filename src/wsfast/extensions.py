"""Extensions (RFC 6455 §9): what an extension does to frames, and how the handshake agrees on it.

A client offers extensions through :class:`ClientExtensionFactory` objects and a server accepts them
through :class:`ServerExtensionFactory` objects; each agreement yields an :class:`Extension` that
the connection applies to data frames: ``decode`` on the way in (in the order the extensions were
agreed, reversed), ``encode`` on the way out.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from .frames import Frame

__all__ = [
    "ExtensionParameters",
    "RSV1",
    "RSV2",
    "RSV3",
    "Extension",
    "ClientExtensionFactory",
    "ServerExtensionFactory",
]

#: Parameters of one extension offer or answer, in order: (name, value or None).
ExtensionParameters = list[tuple[str, "str | None"]]

#: RSV bits, as flags an extension may claim (``Extension.rsv_bits``).
RSV1, RSV2, RSV3 = 0b100, 0b010, 0b001


class Extension(abc.ABC):
    """An agreed extension, applied by the connection to every data frame."""

    #: The extension's registered token, e.g. "permessage-deflate".
    name: str
    #: The RSV bits it gives meaning to (RSV1 | RSV2 | RSV3 flags); others stay forbidden.
    rsv_bits: int = 0

    @abc.abstractmethod
    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Undo the extension on a received data frame (first, continuation or final).

        Args:
            frame: the frame as received (unmasked).
            max_size: how many more payload bytes the current message may grow by, or None.

        Raises:
            PayloadTooBig: decoding would exceed ``max_size`` (close code 1009).
            ProtocolError: the frame is invalid for this extension.
        """

    @abc.abstractmethod
    def encode(self, frame: Frame) -> Frame:
        """Apply the extension to a data frame about to be sent."""


class ClientExtensionFactory(abc.ABC):
    """What a client offers, and how it checks the server's answer."""

    name: str

    @abc.abstractmethod
    def get_request_params(self) -> ExtensionParameters:
        """The parameters of this offer, for the Sec-WebSocket-Extensions request header."""

    @abc.abstractmethod
    def process_response_params(self, params: ExtensionParameters, accepted: Sequence[Extension]) -> Extension:
        """The extension agreed by the server's answer ``params``.

        Raises:
            NegotiationError: the answer does not fit the offer.
        """


class ServerExtensionFactory(abc.ABC):
    """How a server answers a client's offer."""

    name: str

    @abc.abstractmethod
    def process_request_params(
        self, params: ExtensionParameters, accepted: Sequence[Extension]
    ) -> tuple[ExtensionParameters, Extension]:
        """Accept the offer ``params``: the parameters to answer with and the agreed extension.

        Raises:
            NegotiationError: this offer cannot be accepted (the server then tries the next one).
        """
