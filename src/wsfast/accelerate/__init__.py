"""Make other WebSocket libraries faster, in one line, without changing what they do.

.. code-block:: python

    import wsfast.accelerate

    wsfast.accelerate.install()                 # every supported library that is installed
    wsfast.accelerate.install("wsproto")        # or just the ones named
    wsfast.accelerate.installed()               # {"wsproto": "mask"}: what is replaced, per library
    wsfast.accelerate.uninstall()               # put every original back

Each library's hot spots are replaced by wrappers around the wsfast kernels, and nothing else:
websockets' and wsproto's frame loops and serializers, and elsewhere masking and UTF-8 validation:

====================  ==========================================================================
``websockets``        ``websockets.protocol.Protocol.parse`` (the frame loop of the Sans-I/O
                      protocol under the asyncio, sync and trio implementations) and
                      ``Protocol.receive_data`` (a read into a large frame's payload),
                      ``websockets.frames.Frame.serialize``, ``websockets.frames.apply_mask``,
                      ``websockets.legacy.framing.apply_mask`` (the legacy module is patched
                      when the application imports it); checked at install time by running a
                      few streams through the patched and the original parser; and the asyncio
                      ``Connection.send_context``, where its source is one wsfast knows
``wsproto``           ``wsproto.frame_protocol.FrameDecoder.process_buffer`` (its whole-frame
                      case), ``MessageDecoder.process_frame`` (a message in one frame),
                      ``FrameProtocol._serialize_frame``, ``XorMaskerSimple``, and above them
                      ``wsproto.connection.Connection.events`` and ``.send``,
                      ``wsproto.WSConnection.events`` and ``.send``; checked at install time as
                      websockets' are
``tornado``           ``tornado.websocket._websocket_mask``
``aiohttp``           ``aiohttp._websocket.writer.websocket_mask``, and the pure-Python reader's
                      ``aiohttp._websocket.reader_py.websocket_mask`` when that reader is in use
``autobahn``          ``autobahn.websocket.protocol.create_xor_masker``, ``XorMaskerNull``,
                      ``Utf8Validator``
``ws4py``             ``ws4py.streaming.Utf8Validator``, ``ws4py.framing.Frame.mask`` / ``unmask``
``websocket-client``  ``websocket._abnf._mask``, ``websocket._utils._validate_utf8``
====================  ==========================================================================

Every replacement keeps the contract of the function it replaces: the types it takes and returns,
copy or in place, the exceptions, the state across calls. Inputs other than the usual ones are
handed to the original. Call :func:`install` at start-up, before connections are opened: objects
created earlier (a masker, a validator) keep their original class.
"""

from __future__ import annotations

import warnings
from types import ModuleType

from . import _aiohttp, _autobahn, _tornado, _websocket_client, _websockets, _ws4py, _wsproto
from ._patching import LOCK, Installation, UnsupportedVersion

__all__ = ["LIBRARIES", "install", "uninstall", "installed", "UnsupportedVersion"]

_REGISTRY: dict[str, ModuleType] = {
    module.NAME: module
    for module in (_websockets, _wsproto, _tornado, _aiohttp, _autobahn, _ws4py, _websocket_client)
}

#: The names :func:`install` accepts, as the libraries are named on PyPI.
LIBRARIES: tuple[str, ...] = tuple(_REGISTRY)

_installed: dict[str, Installation] = {}


def _check_names(names: tuple[str, ...]) -> None:
    unknown = [name for name in names if name not in _REGISTRY]
    if unknown:
        listed = ", ".join(map(repr, unknown))
        raise ValueError(f"unknown library name {listed}: wsfast.accelerate supports {', '.join(LIBRARIES)}")


def install(*names: str) -> tuple[str, ...]:
    """Replace the hot spots of the named libraries, or of every supported library that imports.

    Installing a library that is installed already does nothing. With names, either all of them
    are installed or, if one fails, none of those not installed before.

    Returns:
        The names now installed among those asked for (with no names, every library that
        imports), in the order of :data:`LIBRARIES`.

    Raises:
        ValueError: a name is not in :data:`LIBRARIES`.
        ImportError: a named library is not installed or does not import.
        UnsupportedVersion: (an ImportError) a named library lacks an attribute wsfast replaces,
            or fails the check made at install time; :func:`install` without names skips such a
            library with a RuntimeWarning.
    """
    _check_names(names)
    with LOCK:
        prepared: dict[str, Installation] = {}
        for name in names or LIBRARIES:
            if name in _installed or name in prepared:
                continue
            try:
                prepared[name] = _prepare(_REGISTRY[name])
            except ImportError as error:
                if names:
                    for installation in prepared.values():
                        installation.undo()
                    raise
                if isinstance(error, UnsupportedVersion):
                    warnings.warn(f"wsfast.accelerate leaves {name} as it is: {error}", RuntimeWarning, stacklevel=2)
        _installed.update(prepared)
        return tuple(name for name in LIBRARIES if name in _installed and (name in names or not names))


def _prepare(library: ModuleType) -> Installation:
    """Apply one library's targets, then its own check of the result, if it has one.

    Raises:
        ImportError: the library does not import.
        UnsupportedVersion: it lacks an attribute wsfast replaces, or fails the check (then
            nothing of it stays replaced).
    """
    installation = Installation.prepare(library.targets())
    verify = getattr(library, "verify", None)
    if verify is not None:
        try:
            verify()
        except BaseException:
            installation.undo()
            raise
    return installation


def uninstall(*names: str) -> tuple[str, ...]:
    """Put back the originals in the named libraries, or in every installed one.

    An attribute that someone else has replaced since :func:`install` is left as it is.

    Returns:
        The names that were installed and are not any more, in the order of :data:`LIBRARIES`.

    Raises:
        ValueError: a name is not in :data:`LIBRARIES`.
    """
    _check_names(names)
    with LOCK:
        removed = [name for name in LIBRARIES if name in _installed and (name in names or not names)]
        for name in removed:
            _installed.pop(name).undo()
        return tuple(removed)


def installed() -> dict[str, str]:
    """The libraries installed now, in the order of :data:`LIBRARIES`, each with what is replaced in
    it: ``"frames, send"`` (websockets: the frame parser and serializer, masking, and the asyncio
    send path), ``"frames, events"`` (wsproto: its frame layer and the event layer above it),
    ``"frames"`` (websockets whose send path wsfast does not know), ``"mask"``,
    or ``"mask, utf8"``."""
    with LOCK:
        return {name: _level(_REGISTRY[name]) for name in LIBRARIES if name in _installed}


def _level(library: ModuleType) -> str:
    level = getattr(library, "level", None)
    return level() if level is not None else library.LEVEL  # type: ignore[no-any-return]  # a str


def _installation(name: str) -> Installation | None:
    """The record of what :func:`install` replaced in one library (for tests and diagnostics)."""
    return _installed.get(name)

