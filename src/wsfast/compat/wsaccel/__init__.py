"""A stand-in for wsaccel, the unmaintained C accelerator of autobahn, ws4py and websocket-client.

``wsfast.compat.wsaccel.xormask`` and ``.utf8validator`` have wsaccel's API and run the wsfast
kernels. :func:`wsfast.compat.install_wsaccel_alias` makes ``import wsaccel...`` find them where the
real wsaccel is not installed, so code written for wsaccel runs unchanged.

``patch_autobahn()`` and ``patch_ws4py()`` install :mod:`wsfast.accelerate` into those libraries
(wsaccel's own patches no longer reach autobahn's protocol, and break a ws4py test).
"""

from __future__ import annotations

from . import utf8validator, xormask

__all__ = ["utf8validator", "xormask", "patch_autobahn", "patch_ws4py"]


def patch_autobahn() -> None:
    """Speed up autobahn: ``wsfast.accelerate.install("autobahn")``.

    Raises:
        ImportError: autobahn is not installed, or lacks what wsfast replaces.
    """
    from ...accelerate import install

    install("autobahn")


def patch_ws4py() -> None:
    """Speed up ws4py: ``wsfast.accelerate.install("ws4py")``.

    Raises:
        ImportError: ws4py is not installed, or lacks what wsfast replaces.
    """
    from ...accelerate import install

    install("ws4py")
