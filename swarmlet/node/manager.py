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
from swarmlet.security.autolock import load_data_key, new_unlock_key, store_data_key
from swarmlet.store import Store, commands
from swarmlet.store.commands import encode
from swarmlet.store.objects import SWARMLET_KEY, dig, edit
from swarmlet.store.state import ApplyResult

log = logging.getLogger(__name__)

RAFT_DB = "raft.db"
PUBLISH_INTERVAL = 1.0  # how often the leader checks the managers' reachability
# What Docker answers when no leader takes a request (a manager cut off from the majority,
# a lost quorum), word for word.
NO_LEADER = (
    "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too "
    "few managers are online. Make sure more than half of the managers are online."
)
LeaderService = Callable[[ClusterContext], Awaitable[None]]
# Followers of store objects wake on their changes; this often besides, as a safety net
# (a snapshot restore replaces the store without a change event of its own kind).
CHANGES_RECHECK = 5.0


class StoreChanges:
    """Wakes a follower of some kinds of store object when a committed change touches one."""

    def __init__(self, store: Store, *kinds: str):
        self.store = store
        self._changed = trio.Event()
        self._sub = store.watch(kinds=list(kinds), predicate=self._poke)

    def _poke(self, event) -> bool:
        self._changed.set()
        return False  # nothing to queue: the follower reads the store itself

    async def wait(self, timeout: float = CHANGES_RECHECK) -> None:
        with trio.move_on_after(timeout):
            await self._changed.wait()
        self._changed = trio.Event()
        self._sub.drain()

    def close(self) -> None:
        self.store.unwatch(self._sub)


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
        unlock_key: str | None = None,
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
        self.unlock_key = unlock_key
        self.store = Store()
        self.raft: RaftRunner | None = None
        self.context = ClusterContext(
            store=self.store,
            propose=self.propose,
            read_barrier=self.read_barrier,
            node_id=node_id,
            is_leader=lambda: self.raft is not None and self.raft.is_leader,
            unlock_key=self._cluster_unlock_key,
            rotate_unlock_key=lambda cluster: {"UnlockKey": new_unlock_key()},
            leader_id=lambda: self.raft.leader if self.raft is not None else None,
        )
        self._stopped = trio.Event()
        self._revoked: set[str] = set()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.data_key = load_data_key(self.data_dir, self.unlock_key)  # Locked, BadUnlockKey
        storage = RaftStorage(os.path.join(self.data_dir, RAFT_DB), self.data_key)
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
                nursery.start_soon(self._follow_cluster, self._enforce_revocations)
                nursery.start_soon(self._follow_cluster, self._follow_autolock)
                nursery.start_soon(self._follow_cluster, self._follow_raft_timing)
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
            raise NotLeaderError(NO_LEADER) from exc

    async def read_barrier(self) -> None:
        try:
            await self.raft.read(lambda sm: None)
        except RaftUnavailable as exc:
            raise NotLeaderError(NO_LEADER) from exc

    async def _lead_when_leader(self) -> None:
        """Run the leader's services exactly while this manager leads."""
        while True:
            while not self.raft.is_leader:
                await self.raft.wait_role_change()
            log.info("this manager is the leader: starting the leader's services")
            async with trio.open_nursery() as nursery:
                for service in self.leader_services:
                    nursery.start_soon(self._supervise, service)
                while self.raft.is_leader:
                    await self.raft.wait_role_change()
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

    def _cluster_unlock_key(self) -> str:
        cluster = self.store.cluster() or {}
        if not dig(cluster, "Spec.EncryptionConfig.AutoLockManagers", False):
            return ""
        return (cluster.get(SWARMLET_KEY) or {}).get("UnlockKey") or ""

    async def _follow_cluster(self, step: Callable[[dict], Awaitable[None]]) -> None:
        """Call ``step(cluster)`` now and after every change to the cluster object."""
        changes = StoreChanges(self.store, "cluster")
        try:
            while True:
                cluster = self.store.cluster()
                if cluster is not None:
                    await step(cluster)
                await changes.wait()
        finally:
            changes.close()

    async def _follow_autolock(self, cluster: dict) -> None:
        """Keep this manager's data key wrapped by the swarm's current unlock key (autolock
        turned on, the key rotated) or in clear (autolock turned off). The leader makes the
        key when autolock is turned on without one."""
        on = dig(cluster, "Spec.EncryptionConfig.AutoLockManagers", False)
        key = (cluster.get(SWARMLET_KEY) or {}).get("UnlockKey") or ""
        if on and not key and self.raft.is_leader:
            changed = edit(cluster)
            changed[SWARMLET_KEY] = {**(cluster.get(SWARMLET_KEY) or {})}
            changed[SWARMLET_KEY]["UnlockKey"] = new_unlock_key()
            changed["UpdatedAt"] = self.context.timestamp()
            await self.propose(commands.update("cluster", changed))
            return  # the change wakes the follower again
        want = key if on else None
        if want != self.unlock_key:
            store_data_key(self.data_dir, self.data_key, want)
            self.unlock_key = want

    async def _enforce_revocations(self, cluster: dict) -> None:
        """Every manager refuses removed nodes (`node rm`) and ends their sessions."""
        revoked = set((cluster.get(SWARMLET_KEY) or {}).get("RevokedNodes") or ())
        for node_id in sorted(revoked - self._revoked):
            log.info("node %s was removed from the swarm: its certificate is refused", node_id)
            await self.transport.revoke(node_id)
            self._revoked.add(node_id)

    async def _follow_raft_timing(self, cluster: dict) -> None:
        """Every manager's raft adopts the swarm's heartbeat and election ticks
        (`swarm update --raft-heartbeat-interval/--raft-election-timeout`)."""
        heartbeat = dig(cluster, "Spec.Raft.HeartbeatTick")
        election = dig(cluster, "Spec.Raft.ElectionTick")
        if heartbeat is None or election is None:
            return
        current = (self.raft.timing.heartbeat_ticks, self.raft.timing.election_ticks)
        if (heartbeat, election) == current:
            return
        try:
            self.raft.set_timeouts(heartbeat, election)
        except ValueError as exc:  # validated on the way in; never let a bad value in here
            log.warning("raft timings %s/%s not applied: %s", heartbeat, election, exc)
            return
        log.info(
            "raft timings now: heartbeat every %d ticks, election after %d-%d ticks of %.0f ms",
            heartbeat,
            election,
            2 * election - 1,
            1000 * self.raft.timing.tick,
        )

    async def publish_manager_status(self, ctx: ClusterContext) -> None:
        """The leader records each manager's reachability in the store (as Swarm's leader
        does), so that every manager's `node ls` shows the same thing.

        It runs for as long as this manager leads (losing leadership cancels it): a write
        that fails (a proposal timed out under load, a race lost on Version.Index) is tried
        again next round, never the end of the service, or a manager that comes back would
        stay Unreachable until the next leader change."""
        changes = StoreChanges(self.store, "node")
        try:
            while True:
                others = False
                for node in self.store.list("node"):
                    status = node.get("ManagerStatus")
                    if not isinstance(status, dict):
                        continue
                    nid = node["ID"]
                    others = others or nid != self.node_id
                    live = nid == self.node_id or nid in self.transport.by_node
                    want = "reachable" if live else "unreachable"
                    if status.get("Reachability") == want:
                        continue
                    changed = edit(node)
                    changed["ManagerStatus"]["Reachability"] = want
                    changed["UpdatedAt"] = ctx.timestamp()
                    try:
                        await ctx.propose(commands.update("node", changed))
                    except NotLeaderError as exc:
                        log.info("could not record %s as %s yet: %s", nid, want, exc)
                        break
                # Other managers' sessions come and go: look every second. A lone manager
                # has nothing to look at until the nodes change (a manager joins).
                await changes.wait(PUBLISH_INTERVAL if others else CHANGES_RECHECK)
        finally:
            changes.close()

    async def set_manager_status(self, node_id: str, addr: str | None) -> None:
        """Record (or, with addr None, clear) a node's ManagerStatus after a raft change."""

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

        changes = StoreChanges(self.store, "node")
        try:
            while True:
                pending = False
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
                        pending = True
                        continue
                    self.raft.peers.pop(node["ID"], None)
                    await self.set_manager_status(node["ID"], None)
                # A removal that failed is tried again in a second, as before.
                await changes.wait(1.0 if pending else CHANGES_RECHECK)
        finally:
            changes.close()

    def status(self) -> dict:
        return self.raft.status() if self.raft else {}
