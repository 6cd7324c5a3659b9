#!/usr/bin/env bash
# Install everything the tests need, start the real services, and run every test.
# Needs root, or sudo, when Debian packages are missing (apt-get) and to start PostgreSQL;
# `scripts/services.sh stop` stops the services it started.
# `scripts/test.sh --integrations` instead installs RouteLLM (torch, transformers: ~2 GB)
# and runs the tests marked `integrations`, against the real package.
set -euo pipefail
cd "$(dirname "$0")/.."

integrations=0
if [ "${1:-}" = "--integrations" ]; then
  integrations=1
  shift
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: not root: missing Debian packages are installed through sudo, and PostgreSQL" \
    "(started as its own user with runuser) needs root" >&2
fi
source scripts/services.sh
echo "test.sh: the services keep running after the tests; stop them with scripts/services.sh stop" >&2

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
if [ "$integrations" = 1 ]; then
  # torch first: 2.13.0 is a CPU build on this project's machines; an unpinned torch
  # would make pip take a CUDA build of several GB.
  .venv/bin/python -m pip install -q 'torch==2.13.0'
  .venv/bin/python -m pip install -q -e '.[test,routellm]'
fi

export TOOLKEEPER_TEST_OUTPUT="${TOOLKEEPER_TEST_OUTPUT:-$PWD/test-output}"
mkdir -p "$TOOLKEEPER_TEST_OUTPUT"

.venv/bin/ruff check
.venv/bin/mypy
if [ "$integrations" = 1 ]; then
  .venv/bin/python -m pytest --integrations -m integrations "$@"
else
  .venv/bin/python -m pytest "$@"
fi
