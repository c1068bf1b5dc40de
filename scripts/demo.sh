#!/usr/bin/env bash
# Brings up something working on this machine: installs what is needed, builds
# dist/swarmlet, starts a 3-host lab (network namespaces, one Docker engine each, a registry
# with busybox images) formed into a swarm (node1 manager, node2 and node3 workers), and runs
# a demo service on it. `dist/swarmlet lab down` removes it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dist/swarmlet lab up --nodes 3 --swarm --managers 1 --workers 2 "$@"
dist/swarmlet lab exec node1 -- swarmlet service create --name demo --replicas 3 --init \
  busybox:latest httpd -f -p 80 -h /
for _ in $(seq 1 60); do
  dist/swarmlet lab exec node1 -- swarmlet service ls --format '{{.Replicas}}' | grep -qx 3/3 && break
  sleep 1
done
dist/swarmlet lab exec node1 -- swarmlet node ls
dist/swarmlet lab exec node1 -- swarmlet service ps demo
cat <<'TXT'

Try:
  dist/swarmlet lab exec node1 -- swarmlet service scale demo=10
  dist/swarmlet lab exec node1 -- swarmlet service update --image busybox:v2 demo
  dist/swarmlet lab partition node3; dist/swarmlet lab exec node1 -- swarmlet service ps demo
  dist/swarmlet lab down
TXT
