"""Make other WebSocket libraries faster, in one line, without changing what they do.

.. code-block:: python

    import wsfast.accelerate

    wsfast.accelerate.install()                 # every supported library that is installed
    wsfast.accelerate.install("wsproto")        # or just the ones named
    wsfast.accelerate.installed()               # ("wsproto",)
    wsfast.accelerate.uninstall()               # put every original back

Each library's hot spots (masking, UTF-8 validation) are replaced by wrappers around the wsfast
kernels, and nothing else:

====================  ==========================================================================
``websockets``        ``websockets.frames.apply_mask``, ``websockets.legacy.framing.apply_mask``
                      (the legacy module is patched when the application imports it)
``wsproto``           ``wsproto.frame_protocol.XorMaskerSimple``
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
        The names now installed among those asked for (with no names: every library that
        imports), in the order of :data:`LIBRARIES`.

    Raises:
        ValueError: a name is not in :data:`LIBRARIES`.
        ImportError: a named library is not installed or does not import.
        UnsupportedVersion: (an ImportError) a named library lacks an attribute wsfast replaces;
            :func:`install` without names skips such a library.
    """
    _check_names(names)
    with LOCK:
        prepared: dict[str, Installation] = {}
        for name in names or LIBRARIES:
            if name in _installed or name in prepared:
                continue
            try:
                prepared[name] = Installation.prepare(_REGISTRY[name].targets())
            except ImportError:
                if names:
                    for installation in prepared.values():
                        installation.undo()
                    raise
        _installed.update(prepared)
        return tuple(name for name in LIBRARIES if name in _installed and (name in names or not names))


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


def installed() -> tuple[str, ...]:
    """The names of the libraries installed now, in the order of :data:`LIBRARIES`."""
    with LOCK:
        return tuple(name for name in LIBRARIES if name in _installed)


def _installation(name: str) -> Installation | None:
    """The record of what :func:`install` replaced in one library (for tests and diagnostics)."""
    return _installed.get(name)

