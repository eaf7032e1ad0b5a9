"""HTTP header fields for the opening handshake: a case-insensitive multi-map, and the grammar of the
header values that RFC 6455 reads (RFC 9110 §5.6 lists, tokens and quoted-strings).

``values`` below is always the list of every value a header has (``Headers.get_all``): a header may
appear on several lines, and each line holds a comma-separated list; the parsers see one list.
RFC 9110 §5.6.1 asks recipients to tolerate empty list elements (``a, , b``), so they do; a list that
the grammar says is non-empty (``1#``) must still have at least one element when the header exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar, cast

from .exceptions import InvalidHeader
from .extensions import ExtensionParameters

__all__ = [
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "parse_connection",
    "parse_upgrade",
    "parse_subprotocols",
    "parse_extensions",
    "serialize_extensions",
    "serialize_subprotocols",
]

_T = TypeVar("_T")

# tchar (RFC 9110 §5.6.2); values are str decoded as ISO-8859-1, so one char is one byte.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWS = re.compile(r"[ \t]*")
# quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4), obs-text included.
_QUOTED = re.compile(r'"((?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*)"')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# field-value: no CTL but HTAB, no whitespace at either end (RFC 9110 §5.5), nothing past latin-1.
_INVALID_VALUE_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


class MultipleValuesError(KeyError):
    """``headers[name]`` for a header that appears more than once: pick with ``get_all`` instead."""


class Headers:
    """An ordered, case-insensitive multi-map of HTTP header fields.

    Names and values are ``str`` (the wire is ISO-8859-1). The pairs keep their wire order and the
    spelling of each name. ``len()`` counts pairs and iteration yields each pair's name, repeats
    included, so both agree with ``items()``; ``headers[name]`` insists on exactly one value.

    Two ``Headers`` are equal when every name (case-insensitively) has the same values in the same
    order; the relative order of different names does not matter (RFC 9110 §5.3).
    """

    __slots__ = ("_pairs", "_index")
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, headers: HeadersLike | None = None) -> None:
        """Start from ``(name, value)`` pairs, a mapping, or another ``Headers`` (copied).

        Raises:
            TypeError: a name or a value is not a ``str``.
        """
        self._pairs: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] = {}
        if headers is None:
            return
        if isinstance(headers, Headers):
            pairs: Iterable[tuple[str, str]] = headers._pairs
        elif isinstance(headers, Mapping):
            # HeadersLike's Mapping (pyright also narrows its Iterable of pairs to a Mapping)
            pairs = cast("Mapping[str, str]", headers).items()
        else:
            pairs = headers
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append one ``name: value`` field after the others, whatever is there already.

        Raises:
            TypeError: ``name`` or ``value`` is not a ``str``.
        """
        if not (isinstance(name, str) and isinstance(value, str)):
            raise TypeError(f"header names and values are str, not {type(name).__name__}/{type(value).__name__}")
        self._pairs.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    __setitem__ = add

    def __getitem__(self, name: str) -> str:
        values = self._index.get(name.lower())
        if not values:
            raise KeyError(name)
        if len(values) > 1:
            raise MultipleValuesError(name)
        return values[0]

    def get(self, name: str, default: _T | None = None) -> str | _T | None:
        """The value of ``name``, or ``default`` when it is absent.

        Raises:
            MultipleValuesError: ``name`` appears more than once (never pick one silently).
        """
        values = self._index.get(name.lower())
        if not values:
            return default
        if len(values) > 1:
            raise MultipleValuesError(name)
        return values[0]

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in wire order; an empty list when it is absent."""
        return list(self._index.get(name.lower(), ()))

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        if key not in self._index:
            raise KeyError(name)
        del self._index[key]
        self._pairs = [pair for pair in self._pairs if pair[0].lower() != key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def items(self) -> list[tuple[str, str]]:
        """All ``(name, value)`` pairs in wire order."""
        return list(self._pairs)

    def copy(self) -> Headers:
        """An independent copy."""
        return Headers(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._index == other._index

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"

    def serialize(self) -> bytes:
        """The fields as ``Name: value\\r\\n`` lines in ISO-8859-1, without the blank line after them.

        Raises:
            ValueError: a name is not a token, or a value holds a control character other than HTAB
                (CR, LF and NUL would inject headers), starts or ends with whitespace, or has a
                character beyond ISO-8859-1.
        """
        lines = []
        for name, value in self._pairs:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"invalid header name: {name!r}")
            if _INVALID_VALUE_CHAR.search(value) or value[:1] in (" ", "\t") or value[-1:] in (" ", "\t"):
                raise ValueError(f"invalid value for header {name}: {value!r}")
            lines.append(f"{name}: {value}\r\n")
        return "".join(lines).encode("latin-1")


#: What a ``Headers`` can be built from.
HeadersLike = Headers | Mapping[str, str] | Iterable[tuple[str, str]]


# ------------------------------------------------------------------------------- value grammar


def _parse_list(
    name: str,
    values: Sequence[str],
    parse_element: Callable[[str, str, int], tuple[_T, int]],
    *,
    non_empty: bool,
) -> list[_T]:
    """``#element`` or ``1#element`` across all the lines of a header (RFC 9110 §5.6.1)."""
    elements: list[_T] = []
    for value in values:
        end = len(value)
        position = _OWS.match(value).end()  # type: ignore[union-attr]  # always matches
        while position < end:
            if value[position] == ",":  # an empty element: tolerated
                position = _OWS.match(value, position + 1).end()  # type: ignore[union-attr]  # always matches
                continue
            element, position = parse_element(name, value, position)
            elements.append(element)
            position = _OWS.match(value, position).end()  # type: ignore[union-attr]  # always matches
            if position < end:
                if value[position] != ",":
                    raise InvalidHeader(name, value, f"expected ',' at position {position}")
                position = _OWS.match(value, position + 1).end()  # type: ignore[union-attr]  # always matches
    if non_empty and values and not elements:
        raise InvalidHeader(name, ", ".join(values), "empty list")
    return elements


def _token(name: str, value: str, position: int) -> tuple[str, int]:
    match = _TOKEN.match(value, position)
    if match is None:
        raise InvalidHeader(name, value, f"expected a token at position {position}")
    return match.group(), match.end()


def _lower_token(name: str, value: str, position: int) -> tuple[str, int]:
    token, position = _token(name, value, position)
    return token.lower(), position


def _protocol(name: str, value: str, position: int) -> tuple[str, int]:
    # protocol = protocol-name ["/" protocol-version] (RFC 9110 §7.8)
    protocol, position = _token(name, value, position)
    if value.startswith("/", position):
        version, position = _token(name, value, position + 1)
        protocol = f"{protocol}/{version}"
    return protocol, position


def _extension(name: str, value: str, position: int) -> tuple[tuple[str, ExtensionParameters], int]:
    # extension = extension-token *( ";" extension-param ), with OWS around ";" and "=" (RFC 6455
    # §9.1 is written with RFC 2616's implied *LWS between tokens and separators).
    extension, position = _token(name, value, position)
    params: ExtensionParameters = []
    end = len(value)
    while True:
        after = _OWS.match(value, position).end()  # type: ignore[union-attr]  # always matches
        if after == end or value[after] != ";":
            return (extension, params), position
        position = _OWS.match(value, after + 1).end()  # type: ignore[union-attr]  # always matches
        param, position = _token(name, value, position)
        after = _OWS.match(value, position).end()  # type: ignore[union-attr]  # always matches
        if after == end or value[after] != "=":
            params.append((param, None))
            continue
        position = _OWS.match(value, after + 1).end()  # type: ignore[union-attr]  # always matches
        if not value.startswith('"', position):
            argument, position = _token(name, value, position)
        else:
            quoted = _QUOTED.match(value, position)
            if quoted is None:
                raise InvalidHeader(name, value, f"invalid quoted-string at position {position}")
            argument = _QUOTED_PAIR.sub(r"\1", quoted.group(1))
            # RFC 6455 §9.1: once unescaped, a quoted value must still be a token.
            if not _TOKEN.fullmatch(argument):
                raise InvalidHeader(name, value, f"quoted value at position {position} is not a token")
            position = quoted.end()
        params.append((param, argument))


def parse_connection(values: Sequence[str]) -> list[str]:
    """The connection options of ``Connection`` headers, lower-cased (RFC 9110 §7.6.1).

    Raises:
        InvalidHeader: a value is not a comma-separated list of tokens.
    """
    return _parse_list("Connection", values, _lower_token, non_empty=False)


def parse_upgrade(values: Sequence[str]) -> list[str]:
    """The protocols of ``Upgrade`` headers, as written: ``name`` or ``name/version`` (RFC 9110 §7.8).

    Raises:
        InvalidHeader: a value is not a comma-separated list of protocols.
    """
    return _parse_list("Upgrade", values, _protocol, non_empty=False)


def parse_subprotocols(values: Sequence[str]) -> list[str]:
    """The subprotocols of ``Sec-WebSocket-Protocol`` headers, as written (RFC 6455 §4.3, ``1#token``).

    Raises:
        InvalidHeader: a value is not a comma-separated list of tokens, or the header is present
            but lists nothing.
    """
    return _parse_list("Sec-WebSocket-Protocol", values, _token, non_empty=True)


def parse_extensions(values: Sequence[str]) -> list[tuple[str, ExtensionParameters]]:
    """The extensions of ``Sec-WebSocket-Extensions`` headers (RFC 6455 §9.1), in order, repeats kept.

    Each is ``(name, [(parameter, value or None), ...])``; quoted values come back unescaped.

    Raises:
        InvalidHeader: a value breaks the grammar (``1#extension``, each ``token *( ";" token [ "="
            ( token / quoted-string ) ] )``), a quoted value is not a token once unescaped, or the
            header is present but lists nothing.
    """
    return _parse_list("Sec-WebSocket-Extensions", values, _extension, non_empty=True)


def _check_token(token: str, what: str) -> str:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValueError(f"invalid {what}: {token!r}")
    return token


def serialize_extensions(extensions: Sequence[tuple[str, ExtensionParameters]]) -> str:
    """The value of a ``Sec-WebSocket-Extensions`` header for ``extensions``, the inverse of
    :func:`parse_extensions`. Values are written as bare tokens (a quoted one must be a token anyway).

    Raises:
        ValueError: the list is empty, or a name, parameter or value is not a token.
    """
    if not extensions:
        raise ValueError("no extensions to serialize")
    parts = []
    for name, params in extensions:
        part = [_check_token(name, "extension name")]
        for param, value in params:
            _check_token(param, "extension parameter")
            part.append(param if value is None else f"{param}={_check_token(value, 'extension parameter value')}")
        parts.append("; ".join(part))
    return ", ".join(parts)


def serialize_subprotocols(subprotocols: Sequence[str]) -> str:
    """The value of a ``Sec-WebSocket-Protocol`` header, the inverse of :func:`parse_subprotocols`.

    Raises:
        ValueError: the list is empty, or a subprotocol is not a token.
    """
    if not subprotocols:
        raise ValueError("no subprotocols to serialize")
    return ", ".join(_check_token(subprotocol, "subprotocol") for subprotocol in subprotocols)
