"""Where run.py's suites run: a virtual environment of their own, wsfast made visible to it, the sdists.

- :func:`make_environment`: a virtual environment of this Python with requirements.txt installed, made
  once and kept in the cache folder under a key of the requirements and the Python version (built in
  a scratch folder and renamed into place, so that a run that dies leaves nothing half made); wsaccel
  installed apart (requirements-wsaccel.txt); and an "overlay" folder holding only a link to the
  wsfast package this script's Python imports, which the accelerated runs put on their path.
- :func:`fetch_sdist`, :func:`extract_tests`: ``pip download --no-binary`` of one sdist, and the copy
  of its test files into a folder that holds no copy of the library.
- :func:`find_store`, :func:`copy_tests`: test folders that no sdist ships (websockets'), kept outside
  the repository, and their copy into the work folder.
- :func:`install_apart`: a release of a library other than the environment's, ``pip install --target``
  into a folder of its own, once per environment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from suites import SUITES

__all__ = ["Environment", "SetupError", "copy_tests", "extract_tests", "fetch_sdist", "find_store", "install_apart",
           "make_environment", "progress"]  # fmt: skip

HERE = Path(__file__).resolve().parent
#: Where stores of third-party tests kept outside the repository are looked for, after $WSFAST_<STORE>:
#: the shared folder beside the repository (as laid for developers and CI), then the workplace's own.
STORE_PLACES = (HERE.parents[2] / "shared" / "thirdparty", Path("/work/shared/thirdparty"))
REQUIREMENTS = HERE / "requirements.txt"
WSACCEL_REQUIREMENTS = HERE / "requirements-wsaccel.txt"
PIP_TIMEOUT = 900


class SetupError(Exception):
    """The environment, an sdist or the echo server could not be had (network, pip, build)."""


def progress(message: str, started: float = time.perf_counter()) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)


def _run_logged(command: list[str], log: Path, timeout: float, what: str) -> None:
    """Run ``command`` with its output in ``log``.

    Raises:
        SetupError: it failed or timed out (with the log's tail).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as stream:
        try:
            completed = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       timeout=timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise SetupError(f"{what}: no result after {timeout:.0f} s (log: {log})") from None
    if completed.returncode:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {completed.returncode}; log: {log}):\n{tail}")


@dataclasses.dataclass
class Environment:
    python: Path
    purelib: Path
    versions: dict[str, str | None]  # distribution -> installed version
    wsaccel_dir: Path  # wsaccel, installed apart (empty where it does not install)
    overlay: Path  # a folder holding only a link to the wsfast under test
    apart: Path  # the folder of the releases installed apart for this environment (install_apart)

    def version(self, dist: str) -> str | None:
        return self.versions.get(dist)


def _key(*parts: str) -> str:
    """A short digest of this Python and ``parts``: the name of what is built from them."""
    python = f"{sys.implementation.name}-{platform.python_version()}-{platform.machine()}-{sys.platform}"
    return hashlib.sha256("\0".join((python, *parts)).encode()).hexdigest()[:12]


def _requirements(path: Path, latest: bool) -> str:
    """The requirements file's text; with ``latest``, without its pins, and dated, so that the
    environment built from it is rebuilt with the newest releases once a day."""
    text = path.read_text(encoding="utf-8")
    return f"# latest as of {time.strftime('%Y-%m-%d')}\n" + re.sub(r"==[^;\s#]+", "", text) if latest else text


def _build_once(final: Path, build: Any) -> Path:
    """``final``, built by ``build(folder)`` into a scratch folder and renamed into place when done."""
    if (final / ".complete").exists():
        return final
    scratch = final.with_name(f"{final.name}.partial-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    build(scratch)
    (scratch / ".complete").write_text("built by tests/thirdparty/run.py\n", encoding="utf-8")
    if not (final / ".complete").exists():  # else another run finished first: use its result
        shutil.rmtree(final, ignore_errors=True)  # the scraps of a run that died
        try:
            scratch.rename(final)
        except OSError:
            pass
    shutil.rmtree(scratch, ignore_errors=True)
    return final


def _prune(cache: Path, keep: list[Path]) -> None:
    """Remove environments built from other requirements, and scraps of runs that died an hour ago."""
    for path in cache.glob("*-*"):
        if not path.name.startswith(("venv-", "wsaccel-", "apart-")) or path in keep or not path.is_dir():
            continue
        if ".partial-" not in path.name or time.time() - path.stat().st_mtime > 3600:
            shutil.rmtree(path, ignore_errors=True)


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_environment(cache: Path, latest: bool) -> Environment:
    """The virtual environment with requirements.txt installed, wsaccel beside it, and the wsfast overlay.

    Raises:
        SetupError: venv or pip failed (e.g. no network on first use).
    """
    requirements = _requirements(REQUIREMENTS, latest)
    key = _key(requirements)
    logs = cache / "logs"

    def build_venv(folder: Path) -> None:
        progress(f"creating the environment {folder.name} (pip install -r {REQUIREMENTS.name})")
        _run_logged([sys.executable, "-m", "venv", str(folder)], logs / "venv.log", 300, "python -m venv")
        pinned = folder / "requirements.txt"
        pinned.write_text(requirements, encoding="utf-8")
        _run_logged([str(_venv_python(folder)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                     "-r", str(pinned)], logs / "pip-install.log", PIP_TIMEOUT, "pip install -r requirements.txt")

    venv = _build_once(cache / f"venv-{key}", build_venv)
    python = _venv_python(venv)

    wsaccel_requirements = _requirements(WSACCEL_REQUIREMENTS, latest)

    def build_wsaccel(folder: Path) -> None:
        pinned = folder.with_name(folder.name + ".txt")
        pinned.write_text(wsaccel_requirements, encoding="utf-8")
        _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--target",
                     str(folder), "-r", str(pinned)], logs / "pip-wsaccel.log", PIP_TIMEOUT, "pip install wsaccel")
        pinned.unlink()

    wsaccel_dir = _build_once(cache / f"wsaccel-{_key(wsaccel_requirements, key)}", build_wsaccel)
    apart = cache / f"apart-{key}"  # filled by install_apart, and pruned with the environment
    _prune(cache, [venv, wsaccel_dir, apart])

    names = [suite.dist for suite in SUITES]
    probe = (
        "import importlib.metadata as m, json, sys, sysconfig\n"
        "def version(name, path=None):\n"
        "    found = list(m.distributions(name=name, path=path) if path else m.distributions(name=name))\n"
        "    return found[0].version if found else None\n"
        f"names = {names!r}\n"
        "versions = {name: version(name) for name in names if name != 'wsaccel'}\n"
        "versions['wsaccel'] = version('wsaccel', [sys.argv[1]])\n"
        "print(json.dumps({'purelib': sysconfig.get_paths()['purelib'], 'versions': versions}))\n"
    )
    done = subprocess.run([str(python), "-c", probe, str(wsaccel_dir)], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    if done.returncode:
        raise SetupError(f"the environment {venv} does not work (delete it to rebuild it):\n{done.stderr}")
    found = json.loads(done.stdout)
    return Environment(python, Path(found["purelib"]), found["versions"], wsaccel_dir, _overlay(cache), apart)


def install_apart(env: Environment, requirements: tuple[str, ...]) -> Path:
    """A folder with ``requirements`` installed by the environment's pip (``--target``), made once.

    Raises:
        SetupError: pip failed.
    """
    slug = re.sub(r"[^\w.]+", "-", "-".join(requirements)).strip("-")

    def build(folder: Path) -> None:
        progress(f"pip install --target {folder.parent.name}/{folder.name} {' '.join(requirements)}")
        _run_logged([str(env.python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--target",
                     str(folder), *requirements], env.apart.parent / "logs" / f"pip-apart-{slug}.log", PIP_TIMEOUT,
                    f"pip install --target ... {' '.join(requirements)}")  # fmt: skip

    env.apart.mkdir(parents=True, exist_ok=True)
    return _build_once(env.apart / f"{slug}-{_key(*requirements)}", build)


def _overlay(cache: Path) -> Path:
    """A folder holding only ``wsfast``: a link to the package this script imports (a copy where links fail)."""
    spec = importlib.util.find_spec("wsfast")
    if spec is None or spec.origin is None:
        raise SetupError("wsfast is not importable here: run this script with the Python that has the wsfast to test")
    package = Path(spec.origin).resolve().parent
    overlay = cache / f"overlay-{hashlib.sha256(str(package).encode()).hexdigest()[:12]}"
    link = overlay / "wsfast"
    overlay.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() == package:
        return overlay
    if link.is_symlink() or link.is_file():
        link.unlink()
    else:
        shutil.rmtree(link, ignore_errors=True)
    try:
        link.symlink_to(package, target_is_directory=True)
    except OSError:
        shutil.copytree(package, link, ignore=shutil.ignore_patterns("__pycache__"))
    return overlay


def fetch_sdist(env: Environment, cache: Path, dist: str, version: str) -> Path:
    """The sdist of ``dist`` at ``version`` (downloaded once into the cache).

    Raises:
        SetupError: pip download failed.
    """

    def download(folder: Path) -> None:
        progress(f"pip download {dist}=={version} (sdist)")
        _run_logged([str(env.python), "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
                     "--no-deps", "--no-binary", dist, "--dest", str(folder), f"{dist}=={version}"],
                    cache / "logs" / f"download-{dist}.log", PIP_TIMEOUT, f"pip download {dist}=={version}")

    folder = _build_once(cache / "sdist" / f"{dist}-{version}", download)
    archives = [path for path in folder.iterdir() if path.name.endswith((".tar.gz", ".zip"))]
    if len(archives) != 1:
        raise SetupError(f"expected one sdist in {folder}, found {[path.name for path in archives]}")
    return archives[0]


def find_store(store: str) -> tuple[Path | None, str]:
    """The folder of a store of third-party tests kept outside the repository (``websockets-tests``),
    or None; and where it was looked for, for the message when it is missing.

    ``$WSFAST_<STORE>`` (``WSFAST_WEBSOCKETS_TESTS``), when set, is the only place looked at, so that
    a wrong setting is not hidden by another copy; otherwise :data:`STORE_PLACES`.
    """
    variable = "WSFAST_" + re.sub(r"\W", "_", store).upper()
    if os.environ.get(variable):
        places, looked = [Path(os.environ[variable])], f"${variable}={os.environ[variable]}"
    else:
        places = list(dict.fromkeys(place / store for place in STORE_PLACES))  # once each, in order
        looked = f"${variable} (unset), " + ", ".join(map(str, places))
    return next((place for place in places if place.is_dir()), None), looked


def copy_tests(folder: Path, members: tuple[str, ...], work: Path) -> None:
    """Copy ``members`` (files or folders below ``folder``) to ``work/<their last name>``, without
    ``__pycache__`` and with the work folder's own permissions (the store may be read-only, and the
    copy must be removable and writable like any run's)."""
    for wanted in members:
        source = folder / wanted
        target = work / Path(wanted).name
        if source.is_file():
            shutil.copyfile(source, target)
            continue
        for root, dirs, files in os.walk(source):
            dirs[:] = [name for name in dirs if name != "__pycache__"]
            here = target / Path(root).relative_to(source)
            here.mkdir(parents=True, exist_ok=True)
            for name in files:
                shutil.copyfile(Path(root) / name, here / name)


def extract_tests(archive: Path, members: tuple[str, ...], work: Path) -> None:
    """Copy ``members`` (files or folders below the sdist's top folder) to ``work/<their last name>``."""
    if archive.suffix == ".zip":
        raise SetupError(f"{archive.name}: zip sdists are not supported")
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts[1:]
            relative = "/".join(parts)
            for wanted in members:
                if relative == wanted or relative.startswith(wanted + "/"):
                    break
            else:
                continue
            if ".." in parts or not (member.isfile() or member.isdir()):
                continue
            target = work / Path(wanted).name / relative[len(wanted):].lstrip("/")
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
    missing = [wanted for wanted in members if not (work / Path(wanted).name).exists()]
    if missing:
        raise SetupError(f"{archive.name} has no {', '.join(missing)}")
