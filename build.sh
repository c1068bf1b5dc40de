#!/usr/bin/env bash
# Builds dist/swarmlet, the one-file zipapp.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-.venv/bin/python}
mkdir -p dist
"$PY" -m shiv -c swarmlet -o dist/swarmlet --python '/usr/bin/env python3' --reproducible --compressed -- . -c constraints.txt
