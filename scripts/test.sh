#!/usr/bin/env bash
# Runs the whole test suite the way CI does: lint, unit and simulation tests, then the
# end-to-end tests on real labs (root, namespaces, dockerd). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/install-deps.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --diff . | head -50; exit 1; }
export SWARMLET_BIN="$PWD/dist/swarmlet"
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
[ $rc -eq 5 ] && { echo "no tests ran"; exit 1; }
exit $rc
