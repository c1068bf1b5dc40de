"""A manager's runtime: raft over the secure wire, the store it applies, and the services that
run only while this manager leads (started on gaining leadership, cancelled on losing it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable

import trio

from swarmlet.manager.context import ClusterContext, NotLeaderError
from swarmlet.node.datagrams import RaftDatagrams, WireDatagrams
from swarmlet.raft.runner import RaftRunner, RaftUnavailable, Timing
from swarmlet.raft.storage import RaftStorage
from swarmlet.store import Store, commands
from swarmlet.store.commands import encode
from swarmlet.store.state import ApplyResult

log = logging.getLogger(__name__)

RAFT_DB = "raft.db"
DATA_KEY = "raft.key"
LeaderService = Callable[[ClusterContext], Awaitable[None]]


def load_or_create_data_key(data_dir: str) -> bytes:
    """The key that seals raft's log and snapshots at rest (autolock will wrap it)."""
    path = os.path.join(data_dir, DATA_KEY)
    try:
        with open(path, "rb") as f:
            key = f.read()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    from nacl.utils import random as random_bytes

    key = random_bytes(32)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    return key


class ManagerRuntime:
    def __init__(
        self,
        node_id: str,
        data_dir: str,
        transport,
        router,
        *,
        peers: dict[str, str] | None = None,
        bootstrap: list[str] | None = None,
        timing: Timing | None = None,
        leader_services: list[LeaderService] = (),
    ):
        self.node_id = node_id
        self.data_dir = data_dir
        self.transport = transport
        self.router = router
        self.peers = dict(peers or {})
        self.bootstrap = bootstrap
        self.timing = timing
        self.leader_services = [
            self.publish_manager_status,
            self.demote_managers,
            *leader_services,
        ]
        self.store = Store()
        self.raft: RaftRunner | None = None
        self.context = ClusterContext(
            store=self.store,
            propose=self.propose,
            read_barrier=self.read_barrier,
            node_id=node_id,
            is_leader=lambda: self.raft is not None and self.raft.is_leader,
            leader_id=lambda: self.raft.leader if self.raft is not None else None,
        )
        self._stopped = trio.Event()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        storage = RaftStorage(
            os.path.join(self.data_dir, RAFT_DB), load_or_create_data_key(self.data_dir)
        )
        try:
            async with trio.open_nursery() as nursery:
                raft_transport = RaftDatagrams(
                    WireDatagrams(self.transport, self.router, nursery, "raft", roles={"manager"})
                )
                self.raft = RaftRunner(
                    self.node_id,
                    storage,
                    raft_transport,
                    self.store,
                    peers=self.peers,
                    bootstrap=self.bootstrap,
                    timing=self.timing,
                )
                await nursery.start(self.raft.run)
                nursery.start_soon(self._lead_when_leader)
                nursery.start_soon(self._enforce_revocations)
                task_status.started()
                await self._stopped.wait()
                nursery.cancel_scope.cancel()
        finally:
            storage.close()

    def stop(self) -> None:
        self._stopped.set()

    async def propose(self, command: dict) -> ApplyResult:
        try:
            return await self.raft.propose(encode(command))
        except RaftUnavailable as exc:
            raise NotLeaderError(
                "The swarm does not have a leader. It's possible that too few managers are "
                "online. Make sure more than half of the managers are online."
            ) from exc

    async def read_barrier(self) -> None:
        try:
            await self.raft.read(lambda sm: None)
        except RaftUnavailable as exc:
            raise NotLeaderError(
                "The swarm does not have a leader. It's possible that too few managers are "
                "online. Make sure more than half of the managers are online."
            ) from exc

    async def _lead_when_leader(self) -> None:
        """Run the leader's services exactly while this manager leads."""
        while True:
            while not self.raft.is_leader:
                await trio.sleep(self.raft.timing.tick)
            log.info("this manager is the leader: starting the leader's services")
            async with trio.open_nursery() as nursery:
                for service in self.leader_services:
                    nursery.start_soon(self._supervise, service)
                while self.raft.is_leader:
                    await trio.sleep(self.raft.timing.tick)
                log.info("leadership lost: stopping the leader's services")
                nursery.cancel_scope.cancel()

    async def _supervise(self, service: LeaderService) -> None:
        """A leader service that fails is logged and started again; the manager carries on."""
        while True:
            try:
                await service(self.context)
                return
            except Exception:
                log.exception("leader service %s failed; restarting it", service)
                await trio.sleep(1.0)

    async def _enforce_revocations(self) -> None:
        """Every manager refuses removed nodes (`node rm`) and ends their sessions."""
        from swarmlet.store.objects import SWARMLET_KEY

        done: set[str] = set()
        while True:
            cluster = self.store.cluster() or {}
            revoked = set((cluster.get(SWARMLET_KEY) or {}).get("RevokedNodes") or ())
            for node_id in sorted(revoked - done):
                log.info("node %s was removed from the swarm: its certificate is refused", node_id)
                await self.transport.revoke(node_id)
                done.add(node_id)
            await trio.sleep(1.0)

    async def publish_manager_status(self, ctx: ClusterContext) -> None:
        """The leader records each manager's reachability in the store (as Swarm's leader
        does), so that every manager's `node ls` shows the same thing."""
        from swarmlet.store.objects import edit

        while True:
            for node in self.store.list("node"):
                status = node.get("ManagerStatus")
                if not isinstance(status, dict):
                    continue
                nid = node["ID"]
                live = nid == self.node_id or nid in self.transport.by_node
                want = "reachable" if live else "unreachable"
                if status.get("Reachability") == want:
                    continue
                changed = edit(node)
                changed["ManagerStatus"]["Reachability"] = want
                changed["UpdatedAt"] = ctx.timestamp()
                try:
                    await ctx.propose(commands.update("node", changed))
                except NotLeaderError:
                    return
            await trio.sleep(1.0)

    async def set_manager_status(self, node_id: str, addr: str | None) -> None:
        """Record (or, with addr None, clear) a node's ManagerStatus after a raft change."""
        from swarmlet.store.objects import edit

        for _ in range(5):  # a concurrent write to the node: read again and retry
            node = self.store.get("node", node_id)
            if node is None:
                return
            changed = edit(node)
            if addr is None:
                changed.pop("ManagerStatus", None)
            else:
                changed["ManagerStatus"] = {"Reachability": "reachable", "Addr": addr}
            changed["UpdatedAt"] = self.context.timestamp()
            result = await self.propose(commands.update("node", changed))
            if result.ok:
                return

    async def demote_managers(self, ctx: ClusterContext) -> None:
        """Nodes demoted in the store leave the raft group (the leader hands over first when
        it is the one demoted; the next leader then finishes the removal)."""
        from swarmlet.raft.core import NotLeader

        while True:
            members = self.raft.core.conf.members
            for node in self.store.list("node"):
                if node["Spec"].get("Role") == "manager" or node["ID"] not in members:
                    continue
                try:
                    await self.raft.remove_member(node["ID"])
                except NotLeader:
                    return  # leadership moved: the new leader carries on
                except RaftUnavailable as exc:
                    log.warning("could not remove %s from raft yet: %s", node["ID"], exc)
                    continue
                self.raft.peers.pop(node["ID"], None)
                await self.set_manager_status(node["ID"], None)
            await trio.sleep(1.0)

    def status(self) -> dict:
        return self.raft.status() if self.raft else {}
