"""Headers, the case-insensitive multi-map, and the header-value grammar of the handshake (RFC 9110
§5.6, RFC 6455 §4 and §9.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsfast.exceptions import InvalidHandshake, InvalidHeader
from wsfast.headers import (
    Headers,
    MultipleValuesError,
    parse_connection,
    parse_extensions,
    parse_subprotocols,
    parse_upgrade,
    serialize_extensions,
    serialize_subprotocols,
)
from wsfast.kernels import parse_http_head

from tests.support import examples

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
# A field value as RFC 9110 §5.5 has it: visible ISO-8859-1 (obs-text included), inner SP/HTAB only.
VCHARS = "".join(map(chr, [*range(0x21, 0x7F), *range(0x80, 0x100)]))
field_values = st.text(alphabet=VCHARS + " \t", max_size=20).map(lambda value: value.strip(" \t"))
header_pairs = st.lists(st.tuples(tokens, field_values), max_size=10)


def swap_case(name: str) -> str:
    return name.swapcase()


# ------------------------------------------------------------------------------------- Headers


class TestHeaders:
    def test_construct_from_pairs_mapping_and_headers(self):
        pairs = [("Host", "example.com"), ("X-A", "1"), ("x-a", "2")]
        headers = Headers(pairs)
        assert headers.items() == pairs
        assert Headers({"Host": "example.com", "X-A": "1"}).items() == [("Host", "example.com"), ("X-A", "1")]
        copied = Headers(headers)
        assert copied.items() == pairs
        copied.add("X-B", "3")
        assert "X-B" not in headers
        assert Headers().items() == [] and len(Headers()) == 0 and not Headers()

    @pytest.mark.parametrize("pair", [(b"Host", "x"), ("Host", b"x"), ("Host", 1), (None, "x")])
    def test_names_and_values_are_str(self, pair):
        with pytest.raises(TypeError):
            Headers([pair])
        with pytest.raises(TypeError):
            Headers().add(*pair)

    def test_getitem_is_case_insensitive_and_wants_one_value(self):
        headers = Headers([("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
        assert headers["content-type"] == headers["CONTENT-TYPE"] == "text/plain"
        with pytest.raises(KeyError) as missing:
            headers["Host"]
        assert type(missing.value) is KeyError
        with pytest.raises(MultipleValuesError) as repeated:
            headers["Set-Cookie"]
        assert isinstance(repeated.value, KeyError)

    def test_get(self):
        headers = Headers([("A", "1"), ("B", "2"), ("b", "3")])
        assert headers.get("a") == "1"
        assert headers.get("C") is None
        assert headers.get("C", "default") == "default"
        with pytest.raises(MultipleValuesError):  # a repeated header is never picked silently
            headers.get("B", "default")

    def test_get_all_contains_iter_len(self):
        headers = Headers([("A", "1"), ("B", "2"), ("a", "3")])
        assert headers.get_all("A") == ["1", "3"]
        assert headers.get_all("missing") == []
        assert "a" in headers and "B" in headers and "c" not in headers
        assert 1 not in headers
        assert list(headers) == ["A", "B", "a"]
        assert len(headers) == 3
        values = headers.get_all("a")
        values.append("mutated")
        assert headers.get_all("a") == ["1", "3"]

    def test_add_setitem_delitem(self):
        headers = Headers()
        headers.add("A", "1")
        headers["B"] = "2"
        headers["a"] = "3"  # adds, never replaces
        assert headers.items() == [("A", "1"), ("B", "2"), ("a", "3")]
        del headers["A"]
        assert headers.items() == [("B", "2")]
        assert "a" not in headers
        with pytest.raises(KeyError):
            del headers["A"]

    def test_copy_is_independent(self):
        headers = Headers([("A", "1")])
        copied = headers.copy()
        copied.add("A", "2")
        del headers["A"]
        assert copied.get_all("A") == ["1", "2"]
        assert len(headers) == 0

    def test_equality(self):
        assert Headers([("A", "1"), ("B", "2")]) == Headers([("b", "2"), ("a", "1")])
        assert Headers([("A", "1"), ("A", "2")]) != Headers([("A", "2"), ("A", "1")])
        assert Headers([("A", "1")]) != Headers([("A", "1"), ("A", "1")])
        assert Headers([("A", "1")]) != [("A", "1")]
        assert Headers([("A", "1")]).__eq__([("A", "1")]) is NotImplemented
        with pytest.raises(TypeError):
            hash(Headers())

    def test_repr(self):
        headers = Headers([("Host", "example.com"), ("X", "")])
        assert repr(headers) == "Headers([('Host', 'example.com'), ('X', '')])"
        assert eval(repr(headers)) == headers

    def test_serialize(self):
        headers = Headers([("Host", "example.com"), ("X-Empty", ""), ("X-Latin", "caf\xe9\tbar")])
        assert headers.serialize() == b"Host: example.com\r\nX-Empty: \r\nX-Latin: caf\xe9\tbar\r\n"
        assert Headers().serialize() == b""

    @pytest.mark.parametrize(
        "name, value",
        [
            ("X", "a\r\nInjected: yes"),
            ("X", "a\nb"),
            ("X", "a\rb"),
            ("X", "a\x00b"),
            ("X", "a\x7fb"),
            ("X", "a\x1bb"),
            ("X\r\nInjected", "yes"),
            ("X\n", "a"),
            ("X\x00", "a"),
            ("X Y", "a"),
            ("X:", "a"),
            ("", "a"),
            ("X", " leading"),
            ("X", "trailing\t"),
            ("X", "\u20ac uro"),
            ("\u00e9", "a"),
        ],
    )
    def test_serialize_rejects_injection_and_invalid_fields(self, name, value):
        with pytest.raises(ValueError):
            Headers([(name, value)]).serialize()

    @given(header_pairs)
    def test_serialize_round_trips_through_the_parser(self, pairs):
        headers = Headers(pairs)
        head = b"GET / HTTP/1.1\r\n" + headers.serialize() + b"\r\n"
        parsed = parse_http_head(head, max_size=len(head), max_headers=len(pairs))
        assert parsed is not None
        assert parsed[1] == pairs
        assert Headers(parsed[1]) == headers

    @given(header_pairs, st.data())
    def test_lookup_is_case_insensitive(self, pairs, data):
        headers = Headers(pairs)
        for name, _ in pairs:
            variant = data.draw(st.sampled_from([name, name.lower(), name.upper(), swap_case(name)]))
            expected = [value for other, value in pairs if other.lower() == name.lower()]
            assert headers.get_all(variant) == expected
            assert variant in headers
        assert Headers([(swap_case(name), value) for name, value in pairs]) == headers

    @given(header_pairs, tokens, field_values, st.sampled_from(["\r", "\n", "\x00", "\r\n"]), st.integers(0, 20))
    def test_control_characters_never_reach_the_wire(self, pairs, name, value, bad, at):
        at = min(at, len(value))
        with pytest.raises(ValueError):
            Headers([*pairs, (name, value[:at] + bad + value[at:])]).serialize()
        with pytest.raises(ValueError):
            Headers([*pairs, (name[:at] + bad + name[at:], value)]).serialize()


# ------------------------------------------------------------------------------- list grammar


class TestConnectionAndUpgrade:
    @pytest.mark.parametrize(
        "values, expected",
        [
            (["Upgrade"], ["upgrade"]),
            (["keep-alive, Upgrade"], ["keep-alive", "upgrade"]),
            (["keep-alive", "UPGRADE"], ["keep-alive", "upgrade"]),
            ([" ,, upgrade ,\t,close , "], ["upgrade", "close"]),
            ([""], []),
            ([",", " , "], []),
            ([], []),
        ],
    )
    def test_parse_connection(self, values, expected):
        assert parse_connection(values) == expected

    @pytest.mark.parametrize(
        "values, expected",
        [
            (["websocket"], ["websocket"]),
            (["WebSocket"], ["WebSocket"]),
            (["HTTP/2.0, websocket"], ["HTTP/2.0", "websocket"]),
            (["h2c", "websocket/13 ,"], ["h2c", "websocket/13"]),
            ([",,"], []),
        ],
    )
    def test_parse_upgrade(self, values, expected):
        assert parse_upgrade(values) == expected

    @pytest.mark.parametrize("value", ["up grade", "upgrade;", "a, b c", '"upgrade"', "upgrade/1", "é"])
    def test_parse_connection_rejects(self, value):
        with pytest.raises(InvalidHeader) as caught:
            parse_connection(["keep-alive", value])
        assert (caught.value.name, caught.value.value) == ("Connection", value)
        assert caught.value.status_code == 400

    @pytest.mark.parametrize("value", ["web socket", "websocket/", "/13", "websocket/13/1", "a/b c", "websocket;"])
    def test_parse_upgrade_rejects(self, value):
        with pytest.raises(InvalidHeader) as caught:
            parse_upgrade([value])
        assert (caught.value.name, caught.value.value) == ("Upgrade", value)


class TestSubprotocols:
    @pytest.mark.parametrize(
        "values, expected",
        [
            (["chat, superchat"], ["chat", "superchat"]),
            (["chat", "superchat"], ["chat", "superchat"]),
            (["Chat,,v2.json.example"], ["Chat", "v2.json.example"]),
            ([], []),
        ],
    )
    def test_parse(self, values, expected):
        assert parse_subprotocols(values) == expected

    @pytest.mark.parametrize("values", [[""], [",", " "], ["chat superchat"], ["chat/1"], ['"chat"']])
    def test_parse_rejects(self, values):
        # 1#token: a header that is present must name at least one subprotocol.
        with pytest.raises(InvalidHeader) as caught:
            parse_subprotocols(values)
        assert (caught.value.name, caught.value.value) == ("Sec-WebSocket-Protocol", ", ".join(values))
        assert isinstance(caught.value, InvalidHandshake)

    def test_serialize(self):
        assert serialize_subprotocols(["chat", "superchat"]) == "chat, superchat"
        for invalid in ([], ["chat superchat"], [""], ["chat\r\n"]):
            with pytest.raises(ValueError):
                serialize_subprotocols(invalid)

    @given(st.lists(tokens, min_size=1, max_size=8))
    def test_round_trip(self, subprotocols):
        assert parse_subprotocols([serialize_subprotocols(subprotocols)]) == subprotocols


# ------------------------------------------------------------------------------------- extensions


class TestExtensions:
    @pytest.mark.parametrize(
        "values, expected",
        [
            (["permessage-deflate"], [("permessage-deflate", [])]),
            (
                ["permessage-deflate; client_max_window_bits"],
                [("permessage-deflate", [("client_max_window_bits", None)])],
            ),
            (  # RFC 7692 §5.1: two offers of one extension, in preference order
                ["permessage-deflate; client_max_window_bits=10, permessage-deflate"],
                [("permessage-deflate", [("client_max_window_bits", "10")]), ("permessage-deflate", [])],
            ),
            (['x; a="10"'], [("x", [("a", "10")])]),
            (['x; a="1\\0"'], [("x", [("a", "10")])]),
            (['x; a="\\t\\o\\k\\e\\n"'], [("x", [("a", "token")])]),
            (["x ;a = b\t;\tc ; d=e"], [("x", [("a", "b"), ("c", None), ("d", "e")])]),
            (["x", "y; p", "x"], [("x", []), ("y", [("p", None)]), ("x", [])]),
            ([", x ,, y ,"], [("x", []), ("y", [])]),
            (["x; a=1; a=2"], [("x", [("a", "1"), ("a", "2")])]),
            ([], []),
        ],
    )
    def test_parse(self, values, expected):
        assert parse_extensions(values) == expected

    @pytest.mark.parametrize(
        "value",
        [
            "",
            " , ",
            "x y",
            "x; ",
            "x;",
            "x;;a",
            "x; a=",
            "x; a= ,y",
            'x; a="unterminated',
            'x; a="a b"',  # a quoted value must unescape to a token (RFC 6455 §9.1)
            'x; a=""',
            'x; a="\\"',
            'x; a="b"c',
            "x; a=b=c",
            "x; a b",
            ";a",
            "x, ;a",
            'x; a="\x01"',
            'x; a="\u20ac"',
            "x/1",
        ],
    )
    def test_parse_rejects(self, value):
        with pytest.raises(InvalidHeader) as caught:
            parse_extensions([value])
        assert (caught.value.name, caught.value.value) == ("Sec-WebSocket-Extensions", value)
        assert caught.value.status_code == 400

    def test_lines_form_one_list(self):
        # RFC 9110 §5.3: several lines are one comma-joined list, so one empty line is an empty element.
        assert parse_extensions(["x", ""]) == [("x", [])]
        assert parse_subprotocols(["", "chat"]) == ["chat"]

    def test_serialize(self):
        extensions = [
            ("permessage-deflate", [("client_max_window_bits", "10"), ("server_no_context_takeover", None)]),
            ("x", []),
        ]
        value = serialize_extensions(extensions)
        assert value == "permessage-deflate; client_max_window_bits=10; server_no_context_takeover, x"
        assert parse_extensions([value]) == extensions

    @pytest.mark.parametrize(
        "extensions",
        [
            [],
            [("x y", [])],
            [("", [])],
            [("x", [("a b", None)])],
            [("x", [("a", "b c")])],
            [("x", [("a", "")])],
            [("x", [("a", "1\r\nInjected: yes")])],
        ],
    )
    def test_serialize_rejects(self, extensions):
        with pytest.raises(ValueError):
            serialize_extensions(extensions)

    extension_lists = st.lists(
        st.tuples(tokens, st.lists(st.tuples(tokens, st.none() | tokens), max_size=4)), min_size=1, max_size=5
    )

    @given(extension_lists)
    def test_round_trip(self, extensions):
        assert parse_extensions([serialize_extensions(extensions)]) == extensions

    @settings(max_examples=examples(200))
    @given(extension_lists, st.data())
    def test_any_spelling_parses_back(self, extensions, data):
        """Random OWS, empty elements, quoted and escaped values, lines split anywhere between
        elements: the parser always returns the same list."""
        ows = st.text(alphabet=" \t", max_size=2)
        elements = []
        for name, params in extensions:
            text = name
            for param, value in params:
                text += data.draw(ows) + ";" + data.draw(ows) + param
                if value is not None:
                    if data.draw(st.booleans()):
                        escaped = data.draw(st.lists(st.booleans(), min_size=len(value), max_size=len(value)))
                        value = '"' + "".join("\\" + c if e else c for c, e in zip(value, escaped)) + '"'
                    text += data.draw(ows) + "=" + data.draw(ows) + value
            elements.append(text)
        separators = st.builds(
            lambda before, empty, after: before + "," + empty + after, ows, st.sampled_from(["", ",", " , ,"]), ows
        )
        lines: list[list[str]] = [[]]
        for element in elements:
            lines[-1].append(element)
            if data.draw(st.booleans()):
                lines.append([])
        values = []
        for line in lines:
            text = data.draw(st.sampled_from(["", ",", " ,"]))
            for index, element in enumerate(line):
                text += (data.draw(separators) if index else data.draw(ows)) + element
            values.append(text + data.draw(st.sampled_from(["", ",", " , "])))
        assert parse_extensions(values) == extensions
