"""Membership of this host: `swarm init`, `swarm join`, `swarm leave`, and resuming from the
data dir after a restart. It owns the node's transport and starts the manager runtime when
the node is a manager.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import platform
import random
import socket
import time

import trio

from swarmlet.api.cluster_common import not_a_manager
from swarmlet.api.router import ApiError
from swarmlet.api.routes_swarm import auto_accept_from_policy
from swarmlet.manager import controlapi
from swarmlet.manager.ca import (
    ROTATION_KEY,
    ClusterCA,
    cert_lifetime,
    credentials_from_reply,
    finish_rotation,
    node_tls_info,
    rotation_pending,
)
from swarmlet.manager.context import ClusterContext, NotLeaderError, rfc3339
from swarmlet.manager.specs.cluster import MIN_CERT_EXPIRY
from swarmlet.manager.specs.common import SECOND
from swarmlet.node.manager import RAFT_DB, ManagerRuntime, StoreChanges
from swarmlet.raft.core import NotLeader
from swarmlet.raft.runner import RaftUnavailable
from swarmlet.security import autolock
from swarmlet.security.bootstrap import init_cluster
from swarmlet.security.ca import CertificateAuthority
from swarmlet.security.certs import CertificateError, renewal_time
from swarmlet.security.node_files import (
    forget_membership,
    load_membership,
    save_membership,
    save_rotation_trust,
)
from swarmlet.security.tokens import JoinTokens, TokenError, parse_token
from swarmlet.store import commands
from swarmlet.store.errors import StoreError
from swarmlet.store.objects import SWARMLET_KEY, edit, version_of
from swarmlet.wire.handshake import SessionPolicy
from swarmlet.wire.join import join_swarm, node_credentials
from swarmlet.wire.mux import RemoteError, Router
from swarmlet.wire.peers import Transport
from swarmlet.wire.schema import Field, Schema

log = logging.getLogger(__name__)

SETTINGS = "swarm.json"
DEFAULT_PORT = 2377
ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "swarmlet swarm leave" to leave this swarm and '
    "join another one."
)
NOT_IN_SWARM = "This node is not part of a swarm"
REGISTER = Schema(
    hostname=Field(str, max_len=255),
    addr=Field(str, max_len=300),
    platform=Field(dict, max_len=8),
    resources=Field(dict, max_len=8),
    engine=Field(dict, max_len=8),
    availability=Field(str, choices=("active", "pause", "drain")),
)
RAFT_JOIN = Schema(addr=Field(str, max_len=300))
ROLE_QUERY = Schema(
    cert=Field(bytes, max_len=512, optional=True),  # the certificate the node holds now
    renew=Field(bool, optional=True),  # its renewal time has come
)
ROLE_CHECK_INTERVAL = 2.0
# A join asks the leader again while the swarm has no leader or is busy with an earlier
# membership change, for at most this long.
JOIN_DEADLINE = 60.0
JOIN_REQUEST_TIMEOUT = 30.0  # above the leader's own deadline for adding a raft member
JOIN_RETRY_INTERVAL = 0.5
MAX_REDIRECTS = 5
RETRIED_REFUSALS = frozenset({"not_leader", "unavailable", "timeout"})
_REFUSAL_REASONS = {
    "not_leader": "the swarm has no leader at the moment",
    "not_manager": "that node is not a manager",
    "unavailable": "the manager could not be reached",
    "timeout": "the manager did not answer in time",
}


def refusal_text(kind: str, address: str, code: str, message: str) -> str:
    """What a manager's refusal of `kind` says to the user: its message, or, when it gave
    none, what its code means; never an empty reason."""
    reason = message.strip() or _REFUSAL_REASONS.get(code) or f"error {code!r}"
    return f"{kind} refused by {address}: {reason}"


TLS_RECORD_TIMEOUT = 2.0


def _host_description() -> dict:
    try:
        with open("/proc/meminfo") as f:
            mem = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal"))
    except (OSError, StopIteration, ValueError):
        mem = 0
    return {
        "hostname": socket.gethostname(),
        "platform": {"Architecture": platform.machine(), "OS": "linux"},
        "resources": {"NanoCPUs": (os.cpu_count() or 1) * 1_000_000_000, "MemoryBytes": mem},
        "engine": {"EngineVersion": "", "Labels": {}},
    }


def advertise_address(listen: str, advertise: str | None) -> str:
    """The address other nodes reach this one at, as Docker picks it."""
    host, _, port = (
        (advertise or listen).rpartition(":")
        if ":" in (advertise or listen)
        else (
            advertise or listen,
            "",
            str(DEFAULT_PORT),
        )
    )
    port = port or str(DEFAULT_PORT)
    if advertise and host not in ("", "0.0.0.0"):
        return f"{host}:{port}"
    listen_host = listen.rpartition(":")[0] if ":" in listen else listen
    if listen_host not in ("", "0.0.0.0"):
        return f"{listen_host}:{port}"
    addrs = _global_ipv4_addresses()
    if len(addrs) == 1:
        return f"{addrs[0]}:{port}"
    if not addrs:
        raise ApiError(
            400, "could not find the system's IP address - specify one with --advertise-addr"
        )
    raise ApiError(
        400,
        "could not choose an IP address to advertise since this system has multiple addresses "
        f"({', '.join(addrs)}) - specify one with --advertise-addr",
    )


def _global_ipv4_addresses() -> list[str]:
    import subprocess

    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if "docker0" in parts[1] or parts[1].startswith(("br-", "veth")):
            continue
        found.append(parts[3].split("/")[0])
    return found


def _init_cert_lifetime(spec) -> float:
    """The lifetime of the first manager's certificate: `--cert-expiry` if given and valid
    (an invalid one is refused with the rest of the spec)."""
    expiry = ((spec or {}).get("CAConfig") or {}).get("NodeCertExpiry")
    if isinstance(expiry, int) and not isinstance(expiry, bool) and expiry >= MIN_CERT_EXPIRY:
        return expiry / SECOND
    return cert_lifetime(None)


def _held_certificate(peer, body: dict):
    """The certificate a node says it holds now (its session may predate a renewal), if it
    is this peer's; else the one it presented when the session opened."""
    from swarmlet.security.certs import Certificate

    if body.get("cert") is not None:
        try:
            cert = Certificate.from_bytes(body["cert"])
        except CertificateError:
            cert = None
        if cert is not None and (cert.node_id, cert.pubkey) == (
            peer.node_id,
            peer.certificate.pubkey,
        ):
            return cert
    return peer.certificate


class _Pending(Exception):
    """The manager holds this node as pending until `node accept`."""


class SwarmNode:
    """This host's membership; `request.context.swarm` in the API handlers."""

    def __init__(self, data_dir: str, nursery: trio.Nursery):
        self.data_dir = data_dir
        self.nursery = nursery
        self.settings: dict = {}
        self.transport: Transport | None = None
        self.router: Router | None = None
        self.manager: ManagerRuntime | None = None
        self._scope: trio.CancelScope | None = None
        self._lock = trio.Lock()
        self.dispatcher = None
        self.agent = None
        self.gossip = None
        self.locked = False
        self.unlock_key: str | None = None

    # -- state --------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self.settings.get("NodeID", "")

    @property
    def role(self) -> str:
        return self.settings.get("Role", "")

    def _load_settings(self) -> dict:
        try:
            with open(os.path.join(self.data_dir, SETTINGS)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save_settings(self) -> None:
        path = os.path.join(self.data_dir, SETTINGS)
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.settings, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)

    def swarm_info(self) -> dict:
        if not self.settings:
            return {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            }
        info = {
            "NodeID": self.node_id,
            "NodeAddr": self.settings["AdvertiseAddr"].rpartition(":")[0],
            "LocalNodeState": "locked" if self.locked else "active",
            "ControlAvailable": self.role == "manager",
            "Error": "",
            "RemoteManagers": [
                {"NodeID": nid, "Addr": addr} for nid, addr in sorted(self.managers().items())
            ],
        }
        if self.manager is not None:
            store = self.manager.store
            cluster = store.cluster()
            info["Nodes"] = store.count("node")
            info["Managers"] = sum(
                1 for n in store.list("node") if n["Spec"].get("Role") == "manager"
            )
            if cluster:
                info["Cluster"] = {
                    k: cluster[k]
                    for k in ("ID", "Version", "CreatedAt", "UpdatedAt", "Spec")
                    if k in cluster
                }
            if self.manager.raft is not None:
                timing = self.manager.raft.timing
                # What this manager's raft runs with now (the spec says what it should).
                info[SWARMLET_KEY] = {
                    "Raft": {
                        "TickMs": round(timing.tick * 1000),
                        "HeartbeatTick": timing.heartbeat_ticks,
                        "ElectionTick": timing.election_ticks,
                    }
                }
        return info

    def managers(self) -> dict[str, str]:
        """Known managers (node ID -> address): the saved list, what raft knows, this node."""
        known = {k: v for k, v in (self.settings.get("Managers") or {}).items() if k}
        if self.manager is not None and self.manager.raft is not None:
            known |= self.manager.raft.peers
            known[self.node_id] = self.settings["AdvertiseAddr"]
        return known

    def context(self) -> ClusterContext:
        """The cluster for API handlers; Docker's refusal on a node that is not a manager."""
        if not self.settings:
            raise not_a_manager("inactive")
        if self.locked:
            raise not_a_manager("locked")
        if self.manager is None:
            raise not_a_manager("worker")
        return self.manager.context

    # -- lifecycle ----------------------------------------------------------------------

    async def resume(self) -> None:
        """At daemon start: rejoin the swarm this data dir belongs to, if any."""
        self.settings = self._load_settings()
        if not self.settings or load_membership(self.data_dir) is None:
            self.settings = {}
            return
        if self.role == "manager" and autolock.is_wrapped(self.data_dir):
            self.locked = True  # nothing runs until `swarm unlock`
            log.info("this manager is locked: run 'swarmlet swarm unlock'")
            return
        await self._start(bootstrap=None)

    async def unlock(self, body: dict) -> None:
        async with self._lock:
            if not self.locked:
                raise ApiError(400, "swarm is not locked")
            key = body.get("UnlockKey") or ""
            try:
                autolock.load_data_key(self.data_dir, key)
            except autolock.BadUnlockKey as exc:
                raise ApiError(400, str(exc)) from None
            self.unlock_key = key
            self.locked = False
            await self._start(bootstrap=None)

    async def _start(self, bootstrap: list[str] | None, *, serve: bool = True) -> None:
        """Start the transport, and when `serve`, this node's roles: the manager runtime (raft,
        the store, the dispatcher and the leader's services) and the worker."""
        creds = node_credentials(self.data_dir)
        router = Router()
        router.request("node.register", REGISTER, self._on_register)
        router.request("raft.join", RAFT_JOIN, self._on_raft_join, roles={"manager"})
        router.request("node.role", ROLE_QUERY, self._on_role)
        from swarmlet.worker import logs as task_logs

        router.stream(task_logs.ROUTE, task_logs.REQUEST, self._on_task_logs, roles={"manager"})
        self.router = router
        policy = SessionPolicy()
        if self.role == "manager":
            policy = SessionPolicy(authorize_join=self._authorize_join)
        host, _, port = self.settings["ListenAddr"].rpartition(":")
        self.transport = Transport(
            creds, router, listen=(host or "0.0.0.0", int(port)), policy=policy
        )
        if serve and self.role == "manager":
            self.manager = self._manager_runtime(router, bootstrap)
        scope = trio.CancelScope()
        self._scope = scope
        ready = trio.Event()

        async def run_all():
            with scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(self.transport.run)
                    if self.manager is not None:
                        await nursery.start(self.manager.run)
                    if serve:
                        await nursery.start(self._run_gossip, router)
                        nursery.start_soon(self._run_worker)
                        nursery.start_soon(self._follow_role)
                    ready.set()

        self.nursery.start_soon(run_all)
        await ready.wait()

    async def _run_gossip(self, router: Router, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """SWIM membership of every node; a member declared dead is marked down at once by
        the leader's dispatcher, so its tasks move without waiting for missed heartbeats."""
        from swarmlet.gossip.config import DEFAULT
        from swarmlet.gossip.runner import GossipRunner
        from swarmlet.node.datagrams import GossipDatagrams, WireDatagrams

        async with trio.open_nursery() as nursery:
            wire = GossipDatagrams(WireDatagrams(self.transport, router, nursery, "gossip"))
            me = self.settings["AdvertiseAddr"]
            self.gossip = GossipRunner(self.node_id, me, {"role": self.role}, DEFAULT, wire)
            await nursery.start(self.gossip.run)
            self.gossip.join(sorted(a for a in self.managers().values() if a and a != me))
            task_status.started()
            async for event in self.gossip.events:
                dispatcher = self.dispatcher
                if event.kind == "dead" and dispatcher and dispatcher.node_dead(event.node_id):
                    log.info("gossip: node %s is dead; marked down", event.node_id)

    def _manager_runtime(self, router: Router, bootstrap: list[str] | None) -> ManagerRuntime:
        from swarmlet.manager.dispatcher import Dispatcher
        from swarmlet.manager.leader import LeaderServices

        peers = {
            k: v for k, v in (self.settings.get("Managers") or {}).items() if k != self.node_id
        }
        runtime = ManagerRuntime(
            self.node_id,
            self.data_dir,
            self.transport,
            router,
            peers=peers,
            bootstrap=bootstrap,
            unlock_key=self.unlock_key,
        )
        runtime.context.node_stream = self.node_stream
        self.dispatcher = Dispatcher(runtime.context, leader_address=self._leader_address)
        self.dispatcher.register_routes(router)
        runtime.leader_services += [
            lambda ctx: LeaderServices(ctx).run(),
            lambda ctx: self.dispatcher.run(),
            self.finish_root_rotation,
        ]
        return runtime

    async def _run_worker(self) -> None:
        """The worker's agent and its session to the dispatcher; started again when the
        engine goes away and comes back."""
        from swarmlet.manager.context import rfc3339
        from swarmlet.worker.agent import Agent
        from swarmlet.worker.docker_executor import DockerExecutor
        from swarmlet.worker.session import WorkerSession

        while True:
            try:
                executor = DockerExecutor(self.node_id)
                description = await trio.to_thread.run_sync(self._description, executor)
                session = WorkerSession(
                    self.transport,
                    lambda: sorted(a for a in self.managers().values() if a),
                    description=description,
                )
                self.agent = Agent(executor, session.report, lambda: rfc3339(time.time()))
                async with trio.open_nursery() as nursery:
                    await nursery.start(self.agent.run)
                    nursery.start_soon(session.run, self.agent)
            except Exception as exc:
                log.warning("worker stopped (%s); starting it again", exc)
                await trio.sleep(2.0)

    @staticmethod
    def _description(executor) -> dict:
        desc = _host_description()
        version = executor.client.version()
        engine_labels = {}
        for label in executor.client.info().get("Labels") or []:
            key, _, value = label.partition("=")
            engine_labels[key] = value
        return {
            "Hostname": desc["hostname"],
            "Platform": desc["platform"],
            "Resources": desc["resources"],
            "Engine": {"EngineVersion": version.get("Version", ""), "Labels": engine_labels},
        }

    async def _stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        self._scope = None
        self.manager = None
        self.transport = None
        self.dispatcher = None
        self.agent = None
        self.gossip = None

    # -- init ---------------------------------------------------------------------------

    async def init(self, body: dict) -> str:
        async with self._lock:
            if self.settings and body.get("ForceNewCluster") and self.role == "manager":
                return await self._force_new_cluster()
            if self.settings:
                raise ApiError(503, ALREADY_IN_SWARM)
            listen = body.get("ListenAddr") or f"0.0.0.0:{DEFAULT_PORT}"
            if ":" not in listen:
                listen = f"{listen}:{DEFAULT_PORT}"
            advertise = advertise_address(listen, body.get("AdvertiseAddr"))
            now = time.time()
            try:
                new = init_cluster(
                    self.data_dir, now, lifetime=_init_cert_lifetime(body.get("Spec"))
                )
            except ValueError as exc:
                raise ApiError(503, str(exc)) from None
            self.unlock_key = autolock.new_unlock_key() if body.get("AutoLockManagers") else None
            self.settings = {
                "NodeID": new.identity.node_id,
                "Role": "manager",
                "ListenAddr": listen,
                "AdvertiseAddr": advertise,
                "Managers": {new.identity.node_id: advertise},
            }
            self._save_settings()
            await self._start(bootstrap=[new.identity.node_id])
            ctx = self.manager.context
            ts = rfc3339(now)
            spec = dict(body.get("Spec") or {})
            if self.unlock_key:
                spec["EncryptionConfig"] = {"AutoLockManagers": True}
            accept = None
            if "AcceptancePolicy" in spec:  # 1.12's --auto-accept
                accept = {"worker": True, "manager": True}
                accept.update(auto_accept_from_policy(spec.pop("AcceptancePolicy")))
            cluster_cmd = controlapi.create_cluster(
                ctx.new_id(),
                ts,
                join_tokens={"Worker": str(new.tokens.worker), "Manager": str(new.tokens.manager)},
                root_public_key=base64.b64encode(new.root.public_key).decode(),
                spec=spec or None,
                auto_accept=accept,
            )
            cluster_cmd["object"][SWARMLET_KEY]["RootKey"] = base64.b64encode(
                new.root.to_bytes()
            ).decode()
            if self.unlock_key:
                cluster_cmd["object"][SWARMLET_KEY]["UnlockKey"] = self.unlock_key
            desc = _host_description()
            node_cmd = controlapi.new_node(
                new.identity.node_id,
                ts,
                desc["hostname"],
                "manager",
                advertise,
                availability=body.get("Availability") or "active",
                platform=desc["platform"],
                resources=desc["resources"],
                engine=desc["engine"],
            )
            node_cmd["object"]["Status"]["State"] = "ready"
            node_cmd["object"]["ManagerStatus"]["Reachability"] = "reachable"
            result = await ctx.propose(commands.batch(cluster_cmd, node_cmd))
            result.unwrap()
            return new.identity.node_id

    async def _force_new_cluster(self) -> str:
        """Recovery from a lost quorum: this manager keeps its data and becomes the only
        member of the raft group; the other managers must join again."""
        log.warning("forcing a new cluster from this manager's data")
        await self._stop()
        self.settings["Managers"] = {self.node_id: self.settings["AdvertiseAddr"]}
        self._save_settings()
        await self._start(bootstrap=None)
        self.manager.raft.force_new_cluster()
        return self.node_id

    # -- join ---------------------------------------------------------------------------

    async def join(self, body: dict) -> None:
        async with self._lock:
            if self.settings:
                raise ApiError(503, ALREADY_IN_SWARM)
            remotes = body.get("RemoteAddrs") or []
            token = body.get("JoinToken") or ""
            if not remotes:
                raise ApiError(400, "at least 1 RemoteAddr is required to join")
            listen = body.get("ListenAddr") or f"0.0.0.0:{DEFAULT_PORT}"
            if ":" not in listen:
                listen = f"{listen}:{DEFAULT_PORT}"
            advertise = advertise_address(listen, body.get("AdvertiseAddr"))
            remote = remotes[0] if ":" in remotes[0] else f"{remotes[0]}:{DEFAULT_PORT}"
            try:
                parse_token(token)
                creds = await join_swarm(self.data_dir, remote, token)
            except (TokenError, ValueError) as exc:
                raise ApiError(400, str(exc)) from None
            except ConnectionError as exc:
                raise ApiError(503, f"could not reach the manager at {remote}: {exc}") from None
            except Exception as exc:  # a refusal by the manager: its words
                raise ApiError(400, str(exc) or f"joining failed: {type(exc).__name__}") from None
            role = creds.certificate.role
            self.settings = {
                "NodeID": creds.identity.node_id,
                "Role": role,
                "ListenAddr": listen,
                "AdvertiseAddr": advertise,
                "Managers": {"": remote},
            }
            try:
                await self._register_and_start(remote, body, creds)
            except BaseException:
                await self._stop()
                forget_membership(self.data_dir)
                self.settings = {}
                raise

    async def _register_and_start(self, remote: str, body: dict, creds) -> None:
        # a transport alone first, to register with the manager
        role = self.settings["Role"]
        self.settings["Role"] = "worker"
        await self._start(bootstrap=None, serve=False)
        desc = _host_description()
        request = {
            "hostname": desc["hostname"],
            "addr": self.settings["AdvertiseAddr"],
            "platform": desc["platform"],
            "resources": desc["resources"],
            "engine": desc["engine"],
            "availability": body.get("Availability") or "active",
        }
        reply = await self._ask_leader(remote, "node.register", request)
        await self._stop()
        self.settings["Role"] = role
        self.settings["Managers"] = dict(reply["managers"])
        if role == "manager":
            await self._join_raft()
        else:
            self._save_settings()
            await self._start(bootstrap=None)

    async def _join_raft(self) -> None:
        """Run the manager runtime first (an empty log, no vote yet), then ask the leader to
        add this node: it catches up as a learner before it becomes a voter, so the swarm's
        quorum never waits on a node that is not running raft."""
        remotes = sorted(a for a in self.settings["Managers"].values() if a)
        self._save_settings()
        await self._start(bootstrap=None)
        try:
            reply = await self._ask_leader(
                remotes[0], "raft.join", {"addr": self.settings["AdvertiseAddr"]}
            )
        except _Pending:
            self.nursery.start_soon(self._join_raft_when_accepted, remotes[0])
            return
        self.settings["Managers"] = dict(reply["managers"])
        self._save_settings()

    async def _join_raft_when_accepted(self, remote: str) -> None:
        """A manager that joined while managers are not auto-accepted: it asks again until
        `node accept` lets it into the raft group."""
        while self.settings and self.role == "manager":
            await trio.sleep(ROLE_CHECK_INTERVAL)
            try:
                reply = await self._ask_leader(
                    remote, "raft.join", {"addr": self.settings["AdvertiseAddr"]}
                )
            except (_Pending, ApiError):
                continue
            self.settings["Managers"] = dict(reply["managers"])
            self._save_settings()
            return

    async def _ask_leader(
        self, remote: str, kind: str, body: dict, deadline: float = JOIN_DEADLINE
    ) -> dict:
        """Ask the leader, found through `remote`. While the swarm has no leader, or the
        leader is busy with an earlier membership change, ask again until the deadline, as
        Docker's join does; a refusal always says why."""
        address, last = remote, "no answer"
        with trio.move_on_after(deadline):
            redirects = 0
            while True:
                try:
                    return await self.transport.request(
                        address, kind, body, timeout=JOIN_REQUEST_TIMEOUT
                    )
                except RemoteError as exc:
                    if exc.code == "pending":
                        raise _Pending(exc.message) from None
                    if exc.code == "not_leader" and exc.message and redirects < MAX_REDIRECTS:
                        address, redirects = exc.message, redirects + 1
                        continue
                    last = refusal_text(kind, address, exc.code, exc.message)
                    if exc.code not in RETRIED_REFUSALS:
                        raise ApiError(503, last) from None
                    log.info("%s: %s; asking again", kind, last)
                address, redirects = remote, 0
                await trio.sleep(JOIN_RETRY_INTERVAL)
        raise ApiError(503, f"{last} (gave up after {deadline:g} s)")

    # -- task logs ----------------------------------------------------------------------

    async def _on_task_logs(self, peer, body, out) -> None:
        """A manager asks for the log of one of this node's tasks."""
        from swarmlet.worker.logs import serve_task_logs

        await serve_task_logs(self.agent.executor if self.agent else None, body, out)

    def node_stream(self, node_id: str, type_: str, body: dict):
        """An async context manager: stream `type_` opened on node `node_id` (or here)."""
        from swarmlet.node.streams import node_stream

        return node_stream(self, node_id, type_, body)

    # -- served to other nodes (managers only) ------------------------------------------

    def _authorize_join(self, token, node_pubkey, requested_node_id=None, requested_role=None):
        """A joiner pins the root its token names, so it gets a certificate of that root (the
        current one); during a root rotation it is re-issued one of the next root at once."""
        cluster = self.manager.store.cluster()
        tokens = JoinTokens(
            parse_token(cluster["JoinTokens"]["Worker"]),
            parse_token(cluster["JoinTokens"]["Manager"]),
        )
        current = ClusterCA.from_cluster(cluster)
        ca = CertificateAuthority(
            current.root,
            lambda: tokens,
            revoked=lambda: current.revoked,
            lifetime=current.lifetime,
        )
        return ca.authorize_join(token, node_pubkey, requested_node_id, requested_role)

    def _leader_address(self) -> str:
        st = self.manager.status()
        return self.managers().get(st.get("leader") or "", "")

    async def _on_register(self, peer, body) -> dict:
        if self.manager is None:
            raise RemoteError("not_manager", "this node is not a manager of the swarm")
        if not self.manager.raft.is_leader:
            raise RemoteError("not_leader", self._leader_address())
        ctx = self.manager.context
        store = self.manager.store
        if store.get("node", peer.node_id) is None:
            accept = ((store.cluster() or {}).get(SWARMLET_KEY) or {}).get("AutoAccept") or {}
            cmd = controlapi.new_node(
                peer.node_id,
                ctx.timestamp(),
                body["hostname"],
                peer.role,
                body["addr"],
                availability=body["availability"],
                membership="accepted" if accept.get(peer.role, True) else "pending",
                platform=body["platform"],
                resources=body["resources"],
                engine=body["engine"],
            )
            try:
                (await ctx.propose(cmd)).unwrap()
            except (StoreError, NotLeaderError) as exc:
                raise RemoteError("unavailable", str(exc)) from None
        return {"managers": self.managers()}

    async def _on_raft_join(self, peer, body) -> dict:
        if self.manager is None:
            raise RemoteError("not_manager", "this node is not a manager of the swarm")
        if not self.manager.raft.is_leader:
            raise RemoteError("not_leader", self._leader_address())
        node = self.manager.store.get("node", peer.node_id) or {}
        if node.get("Spec", {}).get("Membership") == "pending":
            raise RemoteError(
                "pending", "this node waits to be accepted: run 'swarmlet node accept'"
            )
        try:
            await self.manager.raft.add_member(peer.node_id, body["addr"])
        except NotLeader:
            raise RemoteError("not_leader", self._leader_address()) from None
        except RaftUnavailable as exc:
            raise RemoteError("unavailable", f"adding the manager to raft: {exc}") from None
        self.manager.raft.peers[peer.node_id] = body["addr"]
        try:
            await self.manager.set_manager_status(peer.node_id, body["addr"])
        except NotLeaderError as exc:
            raise RemoteError("unavailable", str(exc)) from None
        return {"managers": self.managers()}

    async def _on_role(self, peer, body) -> dict:
        """A node asks which role it should have and tells which certificate it holds; the
        answer names the roots to trust, with a new certificate when its role changed, its
        renewal is due or a root rotation is under way. A demoted manager gets its worker
        certificate only once raft has let it go."""
        if self.manager is None:
            raise RemoteError("not_manager", "this node is not a manager of the swarm")
        node = self.manager.store.get("node", peer.node_id)
        if node is None:
            raise RemoteError("unknown_node", "this node is not part of the swarm")
        want = node["Spec"].get("Role") or "worker"
        held = _held_certificate(peer, body)
        if self.manager.store.cluster() is None:
            raise RemoteError("unavailable", "this manager has not received the swarm yet")
        if want == "worker" and peer.node_id in self.manager.raft.core.conf.members:
            want = peer.role
        if want == peer.role:
            return await self._credentials_reply(held, want, bool(body.get("renew")))
        ca = ClusterCA.from_cluster(self.manager.store.cluster())
        cert = ca.issue(peer.node_id, want, held.pubkey, time.time())
        return {"role": want, "cert": cert.to_bytes(), **ca.trust()}

    async def _credentials_reply(self, held, role: str, renew: bool) -> dict:
        """The roots to trust and, when due, a new certificate for a node that holds `held`;
        the issuer of `held` is recorded in the node object (root rotation waits on it)."""
        ca = ClusterCA.from_cluster(self.manager.store.cluster())
        now = time.time()
        reply = {"role": role, **ca.trust()}
        if ca.needs_certificate(held, now, renew):
            reply["cert"] = ca.issue(held.node_id, role, held.pubkey, now).to_bytes()
        issuer = ca.issuer_of(held, now)
        if issuer is not None:
            await self._record_tls_info(held, issuer)
        return reply

    async def _record_tls_info(self, cert, issuer: bytes) -> None:
        node = self.manager.store.get("node", cert.node_id)
        if node is None:
            return
        info = node_tls_info(cert, issuer, rfc3339)
        if (node.get("Description") or {}).get("TLSInfo") == info:
            return
        changed = edit(node)
        changed.setdefault("Description", {})["TLSInfo"] = info
        # bounded: the answer to the node must not wait on a raft without quorum
        with trio.move_on_after(TLS_RECORD_TIMEOUT):
            try:
                await self.manager.context.propose(commands.update("node", changed))
            except (StoreError, NotLeaderError) as exc:  # told again at the next question
                log.debug("could not record the certificate of %s: %s", cert.node_id, exc)

    async def _follow_role(self) -> None:
        """Promotion, demotion and certificates: ask a manager which role this node should
        have and tell it which certificate this node holds; take the roots to trust and any
        new certificate it sends (renewal at 50-80 % of the lifetime, root rotation), and
        switch roles when a certificate for a new role arrives. A manager also looks at its
        own store whenever the cluster object changes, so that it takes a finished root
        rotation promptly."""
        changes = StoreChanges(self.manager.store, "cluster") if self.manager else None
        try:
            await self._follow_role_rounds(changes)
        finally:
            if changes is not None:
                changes.close()

    async def _follow_role_rounds(self, changes: StoreChanges | None) -> None:
        me = self.settings["AdvertiseAddr"]
        rng = random.Random()
        renew_at, renew_for = 0.0, None
        last_asked, last_seen, report_now = -ROLE_CHECK_INTERVAL, None, False
        while True:
            if report_now:  # a new certificate: tell a manager at once (a rotation waits on it)
                last_asked, report_now = trio.current_time() - ROLE_CHECK_INTERVAL, False
            elif changes is not None:
                await changes.wait(ROLE_CHECK_INTERVAL)
            else:
                await trio.sleep(ROLE_CHECK_INTERVAL)
            creds = self.transport.creds
            held = creds.certificate
            if held is not renew_for:
                renew_at, renew_for = renewal_time(held, rng), held
            renew = time.time() >= renew_at
            reply = None
            due = trio.current_time() - last_asked >= ROLE_CHECK_INTERVAL or renew
            if due:
                last_asked = trio.current_time()
                body = {"cert": held.to_bytes(), **({"renew": True} if renew else {})}
                # another manager: a removed manager may never hear of its own removal
                for address in sorted(a for a in self.managers().values() if a and a != me):
                    try:
                        reply = await self.transport.request(address, "node.role", body, timeout=5)
                    except (RemoteError, OSError):
                        continue
                    break
            cluster = self.manager.store.cluster() if self.manager is not None else None
            seen = (version_of(cluster), held) if cluster else None
            if reply is None and cluster and (due or seen != last_seen):  # else nothing new
                last_seen = seen
                try:
                    reply = await self._credentials_reply(held, self.role, renew)
                except Exception:
                    log.exception("could not check this node's certificate")
                    continue
            if reply is None:
                continue
            try:
                adopted = self._adopt_credentials(reply, held)
            except CertificateError as exc:
                log.warning("kept this node's certificate: %s", exc)
                continue
            if adopted.role != self.role:
                log.info("this node's role is now %s", adopted.role)
                self.nursery.start_soon(self._switch_role, adopted.role)
                return
            report_now = adopted != held and not renew

    def _adopt_credentials(self, reply: dict, held):
        """Take (and save) what a manager's answer says this node holds and trusts."""
        new = credentials_from_reply(reply, held)
        creds = self.transport.creds
        current = (
            creds.certificate,
            creds.root_public_key,
            creds.extra_roots,
            creds.issuer,
            creds.cross_signature,
        )
        wanted = (new.certificate, new.root, new.extra_roots, new.issuer, new.cross_signature)
        if wanted != current:
            save_membership(self.data_dir, new.certificate, new.root)
            save_rotation_trust(self.data_dir, new.extra_roots, new.issuer, new.cross_signature)
            creds.certificate, creds.root_public_key = new.certificate, new.root
            creds.extra_roots, creds.issuer = new.extra_roots, new.issuer
            creds.cross_signature = new.cross_signature
            if new.certificate != held:
                log.info(
                    "this node has a new certificate (valid until %s)",
                    rfc3339(new.certificate.not_after),
                )
        return new.certificate

    async def finish_root_rotation(self, ctx: ClusterContext) -> None:
        """Leader service: once every live node holds a certificate of the next root, make
        it the root and regenerate the join tokens for its digest."""
        changes = StoreChanges(ctx.store, "cluster", "node")
        try:
            await self._finish_root_rotation(ctx, changes)
        finally:
            changes.close()

    async def _finish_root_rotation(self, ctx: ClusterContext, changes: StoreChanges) -> None:
        while True:
            cluster = ctx.store.cluster()
            rotating = cluster and ((cluster.get(SWARMLET_KEY) or {}).get(ROTATION_KEY))
            if rotating and not rotation_pending(cluster, ctx.store.list("node")):
                fields, tokens = finish_rotation(cluster)
                command = controlapi.update_cluster(
                    cluster,
                    None,
                    version_of(cluster),
                    ctx.timestamp(),
                    join_tokens=tokens,
                    swarmlet=fields,
                    root_rotation_in_progress=False,
                )
                try:
                    result = await ctx.propose(command)
                except NotLeaderError:
                    return  # the next leader finishes it
                if result.ok:  # else the cluster changed meanwhile: look again
                    log.info("root rotation done: the old root is no longer trusted")
            await changes.wait()  # a node's certificate record, or the cluster, changed

    async def _switch_role(self, role: str) -> None:
        """Restart this node's runtime in its new role. Never raises: a failure is logged
        and the node runs on in the role its certificate now says."""
        async with self._lock:
            if not self.settings or self.role == role:
                return
            try:
                known = self.managers()  # raft's view goes with the runtime: keep it
                await self._stop()
                self.settings["Managers"] = known
                self.settings["Role"] = role
                if role == "manager":
                    await self._join_raft()
                    return
                for name in (RAFT_DB, RAFT_DB + "-wal", RAFT_DB + "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self.data_dir, name))
                self.settings["Managers"].pop(self.node_id, None)
                self._save_settings()
                await self._start(bootstrap=None)
            except Exception:
                log.exception("could not switch this node to the %s role", role)
                if self.transport is None:
                    with contextlib.suppress(Exception):
                        await self._start(bootstrap=None)

    # -- leave --------------------------------------------------------------------------

    async def leave(self, force: bool) -> None:
        async with self._lock:
            if not self.settings:
                raise ApiError(503, NOT_IN_SWARM)
            if self.role == "manager" and not force:
                raise ApiError(
                    503,
                    "You are attempting to leave the swarm on a node that is participating as a "
                    "manager. Removing this node leaves fewer managers than before, which could "
                    "make the swarm lose quorum. Use `--force` to ignore this message.",
                )
            if self.manager is not None and self.manager.raft is not None:
                with trio.move_on_after(10):
                    try:
                        await self.manager.raft.remove_member(self.node_id)
                    except Exception as exc:  # a lost quorum: leave anyway, as --force says
                        log.warning("could not leave the raft group cleanly: %s", exc)
            if self.agent is not None:  # the tasks' containers leave with the node, as in Docker
                with trio.move_on_after(60):
                    try:
                        for name in (await self.agent.executor.task_containers()).values():
                            await self.agent.executor.remove(name)
                    except Exception as exc:
                        log.warning("could not remove every task container: %s", exc)
            await self._stop()
            forget_membership(self.data_dir)
            for name in (
                SETTINGS,
                RAFT_DB,
                RAFT_DB + "-wal",
                RAFT_DB + "-shm",
                autolock.DATA_KEY_FILE,
            ):
                try:
                    os.unlink(os.path.join(self.data_dir, name))
                except FileNotFoundError:
                    pass
            self.settings = {}
            self.unlock_key = None
            self.locked = False
