#!/usr/bin/env bash
# Installs what swarmlet's lab, tests and build need on Debian/Ubuntu (as root), makes the
# virtual environment .venv with the project and its dev extras, and builds dist/swarmlet.
# Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(docker.io busybox-static docker-registry btrfs-progs iproute2 nftables iptables tcpdump util-linux procps)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages' own service units must not run an engine or registry of their own: the lab
# starts the ones the tests need.
command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1 && \
  systemctl disable --now docker.service docker.socket docker-registry.service >/dev/null 2>&1 || true

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== python venv .venv ($($PY --version))"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
echo "== build dist/swarmlet"
bash build.sh >/dev/null
