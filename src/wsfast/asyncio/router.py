"""Connections dispatched by URL path to handlers, on werkzeug's routing (websockets' ``route``).

.. code-block:: python

    from werkzeug.routing import Map, Rule
    from wsfast.asyncio.router import route

    async def channel(websocket, channel_id):
        ...

    url_map = Map([Rule("/channel/<uuid:channel_id>", endpoint=channel)])
    async with route(url_map, "127.0.0.1", 8765) as server:
        await server.serve_forever()

Each rule's endpoint is the handler; it gets the connection and the values captured in the URL as
keyword arguments. A path no rule matches is refused with 404 before the upgrade; a rule with
``redirect_to`` (or werkzeug's own redirects, such as a missing trailing slash) answers 302 with
``Location``. werkzeug is an optional dependency (``pip install 'wsfast[router]'``).
"""

from __future__ import annotations

import http
import inspect
import ssl as ssl_module
import urllib.parse
from typing import Any, Literal

from ..handshake import reject
from ..http11 import Request, Response
from .server import ServerSideConnection, serve

__all__ = ["route", "unix_route", "Router"]


class Router:
    """Matches a handshake's path against a werkzeug ``Map`` and runs the matching handler.

    Subclass it, or wrap it, and pass it as ``route(create_router=...)`` to change how requests are
    routed (the server name, the refusal, the redirect).
    """

    def __init__(self, url_map: Any, server_name: str | None = None, url_scheme: str = "ws") -> None:
        self.url_map = url_map
        self.server_name = server_name
        self.url_scheme = url_scheme
        for rule in url_map.iter_rules():
            rule.websocket = True  # werkzeug matches WebSocket rules only with websocket=True

    def get_server_name(self, connection: ServerSideConnection, request: Request) -> str:
        """The host redirects point to: ``server_name``, else the request's ``Host``."""
        if self.server_name is not None:
            return self.server_name
        return request.headers.get("Host") or ""

    def redirect(self, connection: ServerSideConnection, url: str) -> Response:
        return reject(http.HTTPStatus.FOUND, f"Found at {url}", headers=[("Location", url)])

    def not_found(self, connection: ServerSideConnection) -> Response:
        return reject(http.HTTPStatus.NOT_FOUND, "Not Found")

    def route_request(self, connection: ServerSideConnection, request: Request) -> Response | None:
        """Pick the handler for ``request`` (a ``process_request`` hook): None to go on with the
        handshake, or the refusal (404) or the redirect (302) to answer instead."""
        from werkzeug.exceptions import NotFound
        from werkzeug.routing import RequestRedirect

        adapter = self.url_map.bind(server_name=self.get_server_name(connection, request), url_scheme=self.url_scheme)
        parsed = urllib.parse.urlparse(request.path)
        try:
            handler, kwargs = adapter.match(path_info=parsed.path, query_args=parsed.query)
        except RequestRedirect as redirect:
            return self.redirect(connection, redirect.new_url)
        except NotFound:
            return self.not_found(connection)
        connection.handler, connection.handler_kwargs = handler, kwargs  # type: ignore[attr-defined]  # the router's
        return None

    async def handler(self, connection: ServerSideConnection) -> None:
        """Run the handler route_request picked for this connection."""
        await connection.handler(connection, **connection.handler_kwargs)  # type: ignore[attr-defined]  # set above


def route(url_map: Any, *args: Any, server_name: str | None = None,
          ssl: ssl_module.SSLContext | Literal[True] | None = None, create_router: type[Router] | None = None,
          **kwargs: Any) -> serve:  # fmt: skip
    """A server (:class:`~wsfast.asyncio.server.serve`'s arguments) that dispatches each connection
    to the handler its URL path maps to in ``url_map`` (a ``werkzeug.routing.Map``).

    ``server_name`` is the host in redirects (default: the request's ``Host``); ``ssl=True`` makes
    redirects ``wss://`` without enabling TLS (a proxy in front terminates it); a
    ``process_request`` hook runs first, and routing happens when it returns None.

    Raises:
        ImportError: werkzeug is not installed.
    """
    import werkzeug.routing  # noqa: F401 - fail now rather than at the first connection

    url_scheme = "ws" if ssl is None else "wss"
    if ssl is not None and ssl is not True:
        kwargs["ssl"] = ssl
    router = (create_router or Router)(url_map, server_name, url_scheme)
    first = kwargs.pop("process_request", None)

    async def process_request(connection: ServerSideConnection, request: Request) -> Response | None:
        if first is not None:
            response = first(connection, request)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                return response  # type: ignore[no-any-return]  # the hook's, an untyped keyword argument
        return router.route_request(connection, request)

    return serve(router.handler, *args, process_request=process_request, **kwargs)


def unix_route(url_map: Any, path: str | None = None, **kwargs: Any) -> serve:
    """:func:`route` on a Unix socket at ``path``.

    Raises:
        ImportError: werkzeug is not installed.
    """
    return route(url_map, path=path, **kwargs)
