#!/usr/bin/env bash
# Brings up something working on this machine: installs what is needed, builds
# dist/swarmlet, and starts a 3-host lab (network namespaces, one Docker engine each, and
# a registry holding busybox images). `dist/swarmlet lab down` removes it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dist/swarmlet lab up --nodes 3 "$@"
cat <<'TXT'

Try:
  dist/swarmlet lab ls
  dist/swarmlet lab exec node2 -- docker run --rm busybox:v2 cat /VERSION
  dist/swarmlet lab down
TXT
