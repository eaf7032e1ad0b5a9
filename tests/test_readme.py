"""The README's two opening commands stay true (CI runs exactly the test command), and the
examples of the README and the docs run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.*?)\n```", text, flags=re.DOTALL)[:2]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    install, tests = readme_commands()
    assert text.index(install) < 200, "the commands open the README"
    assert install.endswith("python -m wsfast demo")
    assert tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    _, tests = readme_commands()
    assert f'readme_test_command="{tests}"' in ci
    assert 'WSFAST_REQUIRE_EXTENSIONS=1 bash -c "$readme_test_command"' in ci
    assert 'WSFAST_NO_EXTENSIONS=1 bash -c "$readme_test_command"' in ci


def test_ci_tests_every_cpython_the_package_claims_that_this_machine_has():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    [versions] = re.findall(r"^versions=\(([0-9. ]+)\)$", ci, flags=re.MULTILINE)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    claimed = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    # 3.11 runs the README's command itself; 3.14 is not installed here (the wheels workflow builds it)
    assert versions.split() == [version for version in claimed if version not in ("3.11", "3.14")]


def python_block(path: str, marker: str) -> str:
    """The one ```python block of ``path`` (from the repository's root) that contains ``marker``."""
    text = (ROOT / path).read_text(encoding="utf-8")
    [block] = [block for block in re.findall(r"```python\n(.*?)\n```", text, flags=re.DOTALL) if marker in block]
    return block


def test_sans_io_example_runs():
    from wsfast.events import TextMessage

    example = python_block("docs/sansio.md", "ClientConnection")
    namespace: dict = {}
    exec(compile(example, "docs/sansio.md", "exec"), namespace)  # noqa: S102 - our own docs
    assert namespace["server"].events_received() == []  # the example's last line consumed them
    namespace["client"].send_text("again")
    namespace["server"].receive_data(namespace["client"].data_to_send())
    assert namespace["server"].events_received() == [TextMessage("again")]


@pytest.mark.parametrize(("path", "marker", "example_port"), [
    ("README.md", "wsfast.serve", "8765"),
    ("README.md", "callbacks.serve", "8766"),
    ("docs/callbacks.md", "callbacks.Handler", "8766"),
])  # fmt: skip
def test_echo_example_runs(capsys, path, marker, example_port):
    import socket

    example = python_block(path, marker)
    with socket.socket() as probe:  # a free port instead of the example's
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exec(compile(example.replace(example_port, str(port)), path, "exec"), {})  # noqa: S102 - our own docs
    assert capsys.readouterr().out == "Hello\n"


def test_readme_accelerate_example_runs():
    import importlib.util

    import wsfast.accelerate

    example = python_block("README.md", "accelerate")
    try:
        exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - our own README
        if importlib.util.find_spec("websockets") is not None:  # the test extra has it on CPython
            assert "websockets" in wsfast.accelerate.installed()
    finally:
        wsfast.accelerate.uninstall()
