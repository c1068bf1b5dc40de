"""Names, addresses and folders of a lab, and its state file.

Everything a lab creates on the machine is named from the lab's name, so that two labs
coexist and `down` can find what a failed `up` left even without a state file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field

ROOT = os.environ.get("SWARMLET_LAB_ROOT", "/var/lib/swarmlet-lab")
CACHE = os.environ.get("SWARMLET_LAB_CACHE", "/var/cache/swarmlet-lab")
NETNS_DIR = "/run/netns"
REGISTRY_PORT = 5000
PARTITION_TABLE = "swarmlet_lab"
HOST_OFFSET = 10  # nodeI gets 198.18.X.(10+I); .1 is the bridge and the registry
MAX_NODES = 200

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_SHORT_RE = re.compile(r"[a-z0-9]{1,6}")


class LabError(Exception):
    """A lab operation that cannot go on; the message is meant for the user."""


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise LabError(
            f"invalid lab name {name!r}: use 1-32 letters, digits, '_', '.', '-' "
            "starting with a letter or digit"
        )
    return name


def tag(name: str) -> str:
    """Short form of the name for interface names (at most 15 characters in all)."""
    if _SHORT_RE.fullmatch(name):
        return name
    return hashlib.sha1(name.encode()).hexdigest()[:6]


def preferred_subnet(name: str) -> int:
    """Third octet of the lab's /24 in 198.18.0.0/16 that the name maps to first."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:2], "big") % 256


def lab_dir(name: str) -> str:
    return os.path.join(ROOT, name)


def state_path(name: str) -> str:
    return os.path.join(lab_dir(name), "state.json")


def bridge_name(name: str) -> str:
    return f"slb-{tag(name)}"


def netns_prefix(name: str) -> str:
    return f"sl-{name}-"


@dataclass
class Host:
    name: str
    index: int
    netns: str
    veth: str
    addr: str
    dir: str
    bip: str

    @property
    def netns_path(self) -> str:
        return os.path.join(NETNS_DIR, self.netns)

    @property
    def uts_path(self) -> str:
        return os.path.join(self.dir, "uts")

    @property
    def docker_sock(self) -> str:
        return os.path.join(self.dir, "docker.sock")

    @property
    def docker_host(self) -> str:
        return "unix://" + self.docker_sock

    @property
    def docker_pidfile(self) -> str:
        return os.path.join(self.dir, "dockerd.pid")

    @property
    def swarmlet_data_dir(self) -> str:
        return os.path.join(self.dir, "swarmlet")

    @property
    def swarmlet_host(self) -> str:
        return "unix://" + os.path.join(self.dir, "swarmlet.sock")

    @property
    def swarmlet_pidfile(self) -> str:
        return os.path.join(self.dir, "swarmlet.pid")


@dataclass
class Lab:
    name: str
    subnet: int
    nodes: int
    bridge: str = ""
    partitions: list[list[str]] = field(default_factory=list)
    swarm: dict | None = None

    def __post_init__(self) -> None:
        self.bridge = self.bridge or bridge_name(self.name)

    @property
    def dir(self) -> str:
        return lab_dir(self.name)

    @property
    def bridge_addr(self) -> str:
        return f"198.18.{self.subnet}.1"

    @property
    def cidr(self) -> str:
        return f"198.18.{self.subnet}.0/24"

    @property
    def registry(self) -> str:
        return f"{self.bridge_addr}:{REGISTRY_PORT}"

    @property
    def bin_dir(self) -> str:
        return os.path.join(self.dir, "bin")

    @property
    def registry_dir(self) -> str:
        return os.path.join(self.dir, "registry")

    @property
    def hosts(self) -> list[Host]:
        return [self.host_at(i) for i in range(1, self.nodes + 1)]

    def host_at(self, i: int) -> Host:
        return Host(
            name=f"node{i}",
            index=i,
            netns=f"{netns_prefix(self.name)}node{i}",
            veth=f"sl{tag(self.name)}n{i}",
            addr=f"198.18.{self.subnet}.{HOST_OFFSET + i}",
            dir=os.path.join(self.dir, f"node{i}"),
            bip=f"10.201.{i}.1/24",
        )

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        names = ", ".join(h.name for h in self.hosts)
        raise LabError(f"lab {self.name!r} has no host {name!r} (hosts: {names})")

    def save(self) -> None:
        data = asdict(self)
        tmp = state_path(self.name) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, state_path(self.name))


def load(name: str) -> Lab:
    check_name(name)
    try:
        with open(state_path(name)) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise LabError(
            f"no lab named {name!r} (start one with: swarmlet lab up --name {name} --nodes 3)"
        ) from None
    return Lab(**data)


def all_labs() -> list[Lab]:
    labs = []
    try:
        names = sorted(os.listdir(ROOT))
    except FileNotFoundError:
        return []
    for n in names:
        try:
            labs.append(load(n))
        except (LabError, ValueError, TypeError):
            continue
    return labs


def partition_blocks(hosts: list[str], partitions: list[list[str]]) -> dict[str, set[str]]:
    """For each host, the hosts it must not exchange packets with.

    Each partition is one side (the named hosts) against every other host of the lab.
    """
    blocked: dict[str, set[str]] = {h: set() for h in hosts}
    for side in partitions:
        inside = set(side)
        outside = [h for h in hosts if h not in inside]
        for h in hosts:
            blocked[h] |= set(outside) if h in inside else inside
    return blocked


def partition_ruleset(blocked_addrs: list[str]) -> str:
    """nft script that replaces the host's partition table in one transaction."""
    lines = [f"table inet {PARTITION_TABLE}", f"delete table inet {PARTITION_TABLE}"]
    if blocked_addrs:
        elems = ", ".join(sorted(blocked_addrs))
        lines += [
            f"table inet {PARTITION_TABLE} {{",
            f"  set peers {{ type ipv4_addr; elements = {{ {elems} }} }}",
            "  chain input { type filter hook input priority -10; ip saddr @peers drop; }",
            "  chain output { type filter hook output priority -10; ip daddr @peers drop; }",
            "  chain forward { type filter hook forward priority -10;"
            " ip saddr @peers drop; ip daddr @peers drop; }",
            "}",
        ]
    return "\n".join(lines) + "\n"
