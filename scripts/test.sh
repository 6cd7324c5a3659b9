#!/usr/bin/env bash
# Install everything the tests need, start the real services, and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/services.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

export TOOLKEEPER_TEST_OUTPUT="${TOOLKEEPER_TEST_OUTPUT:-$PWD/test-output}"
mkdir -p "$TOOLKEEPER_TEST_OUTPUT"

.venv/bin/ruff check
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
