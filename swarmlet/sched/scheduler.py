"""The scheduler: assigns pending tasks to nodes. Pure: no clock, no I/O.

The leader keeps one `Scheduler`, tells it about nodes and about tasks that hold a node
(`upsert_node`, `track_task`, ...), and hands it the pending tasks in batches. Identical
tasks (same service, same spec version) are placed as one group: the node filters run once
per group and node, and each task then costs a heap operation, so the work grows with
nodes × groups, not nodes × tasks.

Filters run in Swarm's order (ready, resources, constraints, platform, host ports, max
replicas per node); among the nodes that pass, placement preferences spread the service's
tasks evenly over label values, then the node with the fewest tasks of the service wins,
then the one with the fewest tasks overall, then the lowest node ID (so that runs repeat).
"""

from __future__ import annotations

import functools
import heapq
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from swarmlet.sched.constraints import Constraint, node_attribute, parse_constraints

# Task states in which a task holds its node's resources (assigned up to running).
_HOLDING_STATES = frozenset({"assigned", "accepted", "preparing", "ready", "starting", "running"})
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "armhf": "arm", "i386": "386"}


@dataclass(slots=True)
class _HeldTask:
    service_id: str
    nano_cpus: int
    memory: int
    host_ports: frozenset


@dataclass(slots=True)
class NodeInfo:
    """What placement needs to know of one node, kept current as tasks come and go."""

    id: str
    node: dict
    ready: bool = False
    free_cpus: int = 0
    free_memory: int = 0
    total: int = 0
    by_service: dict[str, int] = field(default_factory=dict)
    host_ports: dict = field(default_factory=dict)  # (proto, port) -> count
    tasks: dict[str, _HeldTask] = field(default_factory=dict)

    def hold(self, task_id: str, held: _HeldTask) -> None:
        self.tasks[task_id] = held
        self.total += 1
        self.by_service[held.service_id] = self.by_service.get(held.service_id, 0) + 1
        self.free_cpus -= held.nano_cpus
        self.free_memory -= held.memory
        for p in held.host_ports:
            self.host_ports[p] = self.host_ports.get(p, 0) + 1

    def release(self, task_id: str) -> None:
        held = self.tasks.pop(task_id, None)
        if held is None:
            return
        self.total -= 1
        left = self.by_service[held.service_id] - 1
        if left:
            self.by_service[held.service_id] = left
        else:
            del self.by_service[held.service_id]
        self.free_cpus += held.nano_cpus
        self.free_memory += held.memory
        for p in held.host_ports:
            if self.host_ports[p] == 1:
                del self.host_ports[p]
            else:
                self.host_ports[p] -= 1


@dataclass(slots=True)
class Result:
    """Decisions of one `schedule` call: (task, node ID) pairs and (task, reason) pairs."""

    assigned: list[tuple[dict, str]] = field(default_factory=list)
    unassigned: list[tuple[dict, str]] = field(default_factory=list)


@dataclass
class _Group:
    """The placement-relevant part of a task spec, shared by identical tasks."""

    service_id: str
    nano_cpus: int
    memory: int
    constraints: tuple[Constraint, ...]
    platforms: tuple[tuple[str, str], ...]
    host_ports: frozenset
    max_replicas: int
    spread: tuple[str, ...]

    @functools.cached_property
    def held(self) -> _HeldTask:
        return _HeldTask(self.service_id, self.nano_cpus, self.memory, self.host_ports)


# (explanation for one node, explanation for n nodes, check)
_Filter = tuple[str, str, Callable[[NodeInfo, _Group], bool]]


def _ready(n: NodeInfo, g: _Group) -> bool:
    return n.ready


def _resources(n: NodeInfo, g: _Group) -> bool:
    return g.nano_cpus <= n.free_cpus and g.memory <= n.free_memory


def _constraints(n: NodeInfo, g: _Group) -> bool:
    return all(c.matches(n.node) for c in g.constraints)


def _platform(n: NodeInfo, g: _Group) -> bool:
    if not g.platforms:
        return True
    plat = (n.node.get("Description") or {}).get("Platform") or {}
    node_os = (plat.get("OS") or "").lower()
    node_arch = _norm_arch(plat.get("Architecture") or "")
    return any(
        (not os_ or os_ == node_os) and (not arch or arch == node_arch) for os_, arch in g.platforms
    )


def _ports(n: NodeInfo, g: _Group) -> bool:
    return not any(p in n.host_ports for p in g.host_ports)


def _max_replicas(n: NodeInfo, g: _Group) -> bool:
    return not g.max_replicas or n.by_service.get(g.service_id, 0) < g.max_replicas


FILTERS: tuple[_Filter, ...] = (
    ("1 node not available for new tasks", "{} nodes not available for new tasks", _ready),
    ("insufficient resources on 1 node", "insufficient resources on {} nodes", _resources),
    (
        "scheduling constraints not satisfied on 1 node",
        "scheduling constraints not satisfied on {} nodes",
        _constraints,
    ),
    ("unsupported platform on 1 node", "unsupported platform on {} nodes", _platform),
    (
        "host-mode port already in use on 1 node",
        "host-mode port already in use on {} nodes",
        _ports,
    ),
    (
        "max replicas per node limit exceed",
        "max replicas per node limit exceed",
        _max_replicas,
    ),
)


def _norm_arch(arch: str) -> str:
    arch = arch.lower()
    return _ARCH_ALIASES.get(arch, arch)


def _passes(n: NodeInfo, g: _Group) -> bool:
    return all(check(n, g) for _, _, check in FILTERS)


def _still_fits(n: NodeInfo, g: _Group) -> bool:
    """The filters that placing tasks of the group itself can turn false."""
    return (
        g.nano_cpus <= n.free_cpus
        and g.memory <= n.free_memory
        and (not g.host_ports or _ports(n, g))
        and (not g.max_replicas or _max_replicas(n, g))
    )


def explain(nodes: Iterable[NodeInfo], g: _Group) -> str:
    """Docker's `no suitable node (...)`, counting each node under the first filter it fails."""
    counts = [0] * len(FILTERS)
    for n in nodes:
        for i, (_, _, check) in enumerate(FILTERS):
            if not check(n, g):
                counts[i] += 1
                break
    parts = [
        (c, one if c == 1 else many.format(c))
        for c, (one, many, _) in zip(counts, FILTERS, strict=True)
        if c
    ]
    parts.sort(key=lambda p: -p[0])  # stable: ties keep the pipeline's order
    if not parts:
        return "no suitable node"
    return "no suitable node (" + "; ".join(text for _, text in parts) + ")"


class _Leaf:
    """Nodes of one preference branch, ordered by (service tasks, all tasks, ID)."""

    __slots__ = ("heap", "count")

    def __init__(self, service_id: str, nodes: list[NodeInfo]):
        self.heap = [(n.by_service.get(service_id, 0), n.total, n.id, n) for n in nodes]
        heapq.heapify(self.heap)
        self.count = sum(e[0] for e in self.heap)


class _Spread:
    """A tree of branches by label value, one level per placement preference."""

    __slots__ = ("children", "count")

    def __init__(self, children: list):
        self.children = children
        self.count = sum(c.count for c in children)


def _build_tree(nodes: list[NodeInfo], g: _Group, level: int = 0):
    if level == len(g.spread):
        return _Leaf(g.service_id, nodes)
    by_value: dict[str, list[NodeInfo]] = {}
    for n in nodes:
        by_value.setdefault(node_attribute(n.node, g.spread[level]) or "", []).append(n)
    return _Spread([_build_tree(by_value[v], g, level + 1) for v in sorted(by_value)])


def _pick(tree, g: _Group) -> NodeInfo | None:
    """Take the best node for one task and account for it; None when the tree is exhausted."""
    if isinstance(tree, _Leaf):
        while tree.heap:
            _, _, _, n = tree.heap[0]
            if not _still_fits(n, g):  # filled up by this group
                heapq.heappop(tree.heap)
                continue
            heapq.heapreplace(
                tree.heap, (n.by_service.get(g.service_id, 0) + 1, n.total + 1, n.id, n)
            )
            tree.count += 1
            return n
        return None
    while tree.children:
        best = min(range(len(tree.children)), key=lambda i: tree.children[i].count)
        n = _pick(tree.children[best], g)
        if n is not None:
            tree.count += 1
            return n
        del tree.children[best]
    return None


def _group_of(task: dict) -> _Group:
    spec = task.get("Spec") or {}
    res = (spec.get("Resources") or {}).get("Reservations") or {}
    placement = spec.get("Placement") or {}
    ports = ((task.get("Endpoint") or {}).get("Ports")) or ()
    host_ports = frozenset(
        ((p.get("Protocol") or "tcp"), p["PublishedPort"])
        for p in ports
        if p.get("PublishMode") == "host" and p.get("PublishedPort")
    )
    return _Group(
        service_id=task.get("ServiceID", ""),
        nano_cpus=int(res.get("NanoCPUs") or 0),
        memory=int(res.get("MemoryBytes") or 0),
        constraints=parse_constraints(placement.get("Constraints")),
        platforms=tuple(
            ((p.get("OS") or "").lower(), _norm_arch(p.get("Architecture") or ""))
            for p in placement.get("Platforms") or ()
        ),
        host_ports=host_ports,
        max_replicas=int(placement.get("MaxReplicas") or 0),
        spread=tuple(
            ((pref.get("Spread") or {}).get("SpreadDescriptor") or "")
            for pref in placement.get("Preferences") or ()
            if (pref.get("Spread") or {}).get("SpreadDescriptor")
        ),
    )


def _group_key(task: dict) -> tuple:
    version = (task.get("SpecVersion") or {}).get("Index")
    if version is not None:
        return (task.get("ServiceID", ""), version)
    return (task.get("ServiceID", ""), json.dumps(task.get("Spec"), sort_keys=True))


class Scheduler:
    """Placement state of the cluster; see the module docstring for the contract."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self._task_node: dict[str, str] = {}

    # -- what the cluster looks like ---------------------------------------------------

    def upsert_node(self, node: dict) -> None:
        info = self.nodes.get(node["ID"])
        if info is None:
            info = self.nodes[node["ID"]] = NodeInfo(node["ID"], node)
        info.node = node
        info.ready = (node.get("Status") or {}).get("State") == "ready" and (
            (node.get("Spec") or {}).get("Availability") or "active"
        ) == "active"
        res = (node.get("Description") or {}).get("Resources") or {}
        used_cpu = sum(t.nano_cpus for t in info.tasks.values())
        used_mem = sum(t.memory for t in info.tasks.values())
        info.free_cpus = int(res.get("NanoCPUs") or 0) - used_cpu
        info.free_memory = int(res.get("MemoryBytes") or 0) - used_mem

    def remove_node(self, node_id: str) -> None:
        info = self.nodes.pop(node_id, None)
        if info is not None:
            for task_id in info.tasks:
                self._task_node.pop(task_id, None)

    def track_task(self, task: dict) -> None:
        """Record a task that holds (or no longer holds) a node; idempotent."""
        task_id = task["ID"]
        node_id = task.get("NodeID")
        state = (task.get("Status") or {}).get("State")
        holds = bool(node_id) and state in _HOLDING_STATES
        old = self._task_node.get(task_id)
        if old is not None and (not holds or old != node_id):
            self.forget_task(task_id)
            old = None
        if holds and old is None and node_id in self.nodes:
            self.nodes[node_id].hold(task_id, _group_of(task).held)
            self._task_node[task_id] = node_id

    def forget_task(self, task_id: str) -> None:
        node_id = self._task_node.pop(task_id, None)
        if node_id is not None and node_id in self.nodes:
            self.nodes[node_id].release(task_id)

    # -- decisions ---------------------------------------------------------------------

    def schedule(self, pending: Iterable[dict]) -> Result:
        """Place pending tasks; the assigned ones are tracked as held from then on."""
        result = Result()
        groups: dict[tuple, list[dict]] = {}
        for task in pending:
            groups.setdefault(_group_key(task), []).append(task)
        for tasks in groups.values():
            g = _group_of(tasks[0])
            preset = [t for t in tasks if t.get("NodeID")]
            free = [t for t in tasks if not t.get("NodeID")]
            for task in preset:
                self._place_on(task, g, result)
            if free:
                self._place_group(free, g, result)
        return result

    def _assign(self, task: dict, node: NodeInfo, g: _Group, result: Result) -> None:
        node.hold(task["ID"], g.held)
        self._task_node[task["ID"]] = node.id
        result.assigned.append((task, node.id))

    def _place_on(self, task: dict, g: _Group, result: Result) -> None:
        node = self.nodes.get(task["NodeID"])
        if node is None:
            result.unassigned.append((task, "node is not part of the cluster"))
        elif _passes(node, g):
            self._assign(task, node, g, result)
        else:
            result.unassigned.append((task, explain([node], g)))

    def _place_group(self, tasks: list[dict], g: _Group, result: Result) -> None:
        eligible = [n for n in self.nodes.values() if _passes(n, g)]
        tree = _build_tree(eligible, g)
        for i, task in enumerate(tasks):
            node = _pick(tree, g)
            if node is None:
                reason = explain(self.nodes.values(), g)
                result.unassigned.extend((t, reason) for t in tasks[i:])
                return
            self._assign(task, node, g, result)
