"""APIs of other projects, implemented on the wsfast kernels.

``wsfast.compat.wsaccel`` replaces wsaccel (``xormask``, ``utf8validator``).
:func:`install_wsaccel_alias` lets ``import wsaccel.xormask`` and ``import wsaccel.utf8validator``
find it where the real wsaccel is not installed; an installed wsaccel is never shadowed:

.. code-block:: python

    import wsfast.compat

    wsfast.compat.install_wsaccel_alias()
    from wsaccel.utf8validator import Utf8Validator  # wsaccel's if installed, else wsfast's
"""

from __future__ import annotations

from ._alias import ModuleAlias

__all__ = ["install_wsaccel_alias", "uninstall_wsaccel_alias"]

_WSACCEL = ModuleAlias("wsaccel", "wsfast.compat.wsaccel")


def install_wsaccel_alias() -> bool:
    """Make ``import wsaccel`` (and its submodules) give :mod:`wsfast.compat.wsaccel`, unless the real
    wsaccel can be imported.

    Returns:
        True if the alias is in place (now or from an earlier call), False if the real wsaccel is
        installed and stays in charge.
    """
    return _WSACCEL.install()


def uninstall_wsaccel_alias() -> None:
    """Remove the alias, and the ``wsaccel`` modules it has served from ``sys.modules``."""
    _WSACCEL.uninstall()
