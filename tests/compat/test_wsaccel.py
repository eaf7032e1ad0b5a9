"""wsfast.compat.wsaccel: wsaccel's API on the wsfast kernels, against the real wsaccel where installed,
and the alias that lets ``import wsaccel`` find it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wsfast.accelerate
import wsfast.compat
from wsfast.compat.wsaccel import utf8validator, xormask

from tests.accelerate import support
from tests.accelerate.support import _nothing_installed  # noqa: F401 - autouse fixture
from tests.support import examples

# The unmaintained wsaccel is the reference where it still installs; the tests of wsfast's own
# behaviour below run without it.
try:
    import wsaccel.utf8validator as real_utf8validator
    import wsaccel.xormask as real_xormask
except ImportError:
    real_xormask = real_utf8validator = None
needs_wsaccel = pytest.mark.skipif(real_xormask is None, reason="wsaccel is not installed")

KEY_KINDS = ["bytes", "bytearray", "memoryview", "strided", "array-B", "array-b", "view-c", "str", "list"]


def run_masker(masker_class, key, steps):
    made = support.outcome(masker_class, key)
    if made[0] == "raises":
        return [made]
    masker, results = made[2], []
    for step in steps:
        if step is None:
            masker.reset()
        else:
            results.append(support.outcome(masker.process, step))
        results.append(masker.pointer())
    return results


MASKER_STEPS = st.lists(
    st.one_of(st.none(), st.tuples(st.binary(max_size=300), st.sampled_from(list(support.BUFFER_KINDS)))), max_size=8
)


@needs_wsaccel
@settings(max_examples=examples(300), deadline=None)
@given(key=st.one_of(st.binary(min_size=4, max_size=4), st.binary(max_size=6)),
       key_kind=st.sampled_from(KEY_KINDS), steps=MASKER_STEPS)  # fmt: skip
def test_xor_masker_simple_same_as_wsaccel(key, key_kind, steps):
    concrete = [None if step is None else support.BUFFER_KINDS[step[1]](step[0]) for step in steps]
    mask = support.BUFFER_KINDS[key_kind](key)
    ours = run_masker(xormask.XorMaskerSimple, mask, concrete)
    assert ours == run_masker(real_xormask.XorMaskerSimple, mask, concrete)


@needs_wsaccel
@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_xor_maskers_odd_inputs(odd):
    for ours, theirs in ((xormask.XorMaskerSimple, real_xormask.XorMaskerSimple),
                         (xormask.XorMaskerNull, real_xormask.XorMaskerNull)):  # fmt: skip
        assert run_masker(ours, odd, []) == run_masker(theirs, odd, [])
        assert run_masker(ours, b"abcd", [odd]) == run_masker(theirs, b"abcd", [odd])


def test_xor_masker_simple():
    masker = xormask.createXorMasker(bytearray(b"abcd"), len=100)
    assert type(masker) is xormask.XorMaskerSimple
    data = bytes(range(256)) * 400
    chunks = [masker.process(data[start : start + 1001]) for start in range(0, len(data), 1001)]
    assert b"".join(chunks) == support.bytewise_xor(data, b"abcd") and masker.pointer() == len(data)
    masker.reset()
    assert masker.pointer() == 0 and masker.process(memoryview(b"\0\0\0\0\0")) == b"abcda"
    assert masker.process(None) == b"" and masker.pointer() == 5
    with pytest.raises(ValueError, match="mask should be 4byte"):
        xormask.XorMaskerSimple(b"abc")
    with pytest.raises(ValueError, match="dtype mismatch"):
        masker.process(support.BUFFER_KINDS["array-i"](b"abcd"))
    with pytest.raises(TypeError):
        masker.process("text")


def test_xor_masker_null():
    masker = xormask.XorMaskerNull(b"abcd")
    data = [1, 2, 3]
    assert masker.process(data) is data and masker.pointer() == 3
    masker.reset()
    assert masker.pointer() == 0


# wsaccel's decode() of a value outside 0-255 reads outside its table: not compared
VALIDATOR_STEPS = support.utf8_steps(["bytes"] * 6 + list(support.BUFFER_KINDS), (0, 255), (0, 5))


@needs_wsaccel
@settings(max_examples=examples(500), deadline=None)
@given(steps=st.lists(VALIDATOR_STEPS, max_size=12))
def test_utf8_validator_same_as_wsaccel(steps):
    ours = support.run_utf8_steps(utf8validator.Utf8Validator, steps)
    assert ours == support.run_utf8_steps(real_utf8validator.Utf8Validator, steps)


@needs_wsaccel
@pytest.mark.parametrize("odd", support.NOT_BUFFERS)
def test_utf8_validator_odd_inputs(odd):
    ours, theirs = utf8validator.Utf8Validator(), real_utf8validator.Utf8Validator()
    assert support.outcome(ours.validate, odd) == support.outcome(theirs.validate, odd)
    assert support.outcome(ours.decode, odd)[:2] == support.outcome(theirs.decode, odd)[:2] or isinstance(odd, int)


def test_utf8_validator():
    validator = utf8validator.Utf8Validator()
    assert (validator.UTF8_ACCEPT, validator.UTF8_REJECT) == (0, 1)
    text = "ünïcödé ✓ 😀 ".encode() * 2000
    assert validator.validate(bytearray(text)) == (True, True, len(text), len(text))
    assert validator.validate(b"\xf0\x9f") == (True, False, 2, len(text) + 2)
    assert validator.state == 3
    assert validator.validate(support.BUFFER_KINDS["strided"](b"\x98\x80")) == (True, True, 2, len(text) + 4)
    assert validator.validate(b"ab\xff") == (False, False, 2, len(text) + 6)
    assert validator.state == 1 and validator.validate(b"") == (True, False, 0, len(text) + 6)
    validator.reset()
    assert [validator.decode(byte) for byte in "€".encode()] == [3, 2, 0] and validator.codepoint == 0x20AC
    assert validator.decode(256) == 1  # not a byte: invalid
    with pytest.raises(ValueError, match="states 0 to 8"):
        validator.state = 9
    with pytest.raises(TypeError):
        validator.decode("a")


def test_patch_functions_install_wsfast():
    import wsfast.compat.wsaccel as compat_wsaccel

    compat_wsaccel.patch_autobahn()
    compat_wsaccel.patch_ws4py()
    assert tuple(wsfast.accelerate.installed()) == ("autobahn", "ws4py")


# ------------------------------------------------------------------------------------------- alias


@needs_wsaccel
def test_the_alias_never_shadows_an_installed_wsaccel():
    assert wsfast.compat.install_wsaccel_alias() is False
    import wsaccel.xormask

    assert wsaccel.xormask is real_xormask
    assert "site-packages" in wsaccel.__file__ or "dist-packages" in wsaccel.__file__


class _HideWsaccel:
    """A finder that makes wsaccel look uninstalled, as the import system sees it."""

    def find_spec(self, name, path=None, target=None):
        if name == "wsaccel" or name.startswith("wsaccel."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@pytest.fixture
def wsaccel_absent(monkeypatch):
    for name in [name for name in sys.modules if name == "wsaccel" or name.startswith("wsaccel.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_HideWsaccel(), *sys.meta_path])
    yield
    wsfast.compat.uninstall_wsaccel_alias()


def test_the_alias_where_wsaccel_is_absent(wsaccel_absent):
    with pytest.raises(ImportError):
        import wsaccel  # noqa: F401
    assert wsfast.compat.install_wsaccel_alias() is True
    assert wsfast.compat.install_wsaccel_alias() is True
    import wsaccel.utf8validator
    import wsaccel.xormask
    from wsaccel.xormask import XorMaskerSimple

    assert wsaccel.xormask is xormask and XorMaskerSimple is xormask.XorMaskerSimple
    assert wsaccel.utf8validator.Utf8Validator is utf8validator.Utf8Validator
    with pytest.raises(ImportError):
        import wsaccel.nothing  # noqa: F401
    wsfast.compat.uninstall_wsaccel_alias()
    assert not [name for name in sys.modules if name.startswith("wsaccel")]
    with pytest.raises(ImportError):
        import wsaccel  # noqa: F401,F811


def test_the_alias_in_a_fresh_interpreter():
    code = """
        import sys

        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "wsaccel":
                    raise ModuleNotFoundError(name, name=name)

        sys.meta_path.insert(0, Hide())
        import wsfast.compat
        assert wsfast.compat.install_wsaccel_alias()
        from wsaccel.xormask import XorMaskerSimple, createXorMasker
        from wsaccel.utf8validator import Utf8Validator
        # what websocket-client does with wsaccel
        assert XorMaskerSimple(b"abcd").process(b"\\0\\0\\0\\0\\0") == b"abcda"
        assert Utf8Validator().validate(b"\\xe2\\x82")[0] is True
        import websocket._abnf, websocket._utils
        assert "XorMaskerSimple" in websocket._abnf._mask.__code__.co_names
        assert websocket._utils.validate_utf8(b"\\xff") is False
        print("ok")
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert result.stdout == "ok\n", result.stderr
