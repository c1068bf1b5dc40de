"""The real API server with the manager's routes over a LocalCluster, on a temporary unix
socket, served by trio in a background thread, so that tests drive it with the real CLI and
`Client` from the test's own thread."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import threading

import nacl.signing
import trio

from swarmlet.api.client import Client
from swarmlet.api.cluster_routes import not_a_manager, register_cluster_routes
from swarmlet.api.routes import build_router
from swarmlet.api.server import ApiServer
from swarmlet.api.unix_socket import bind_unix_socket
from swarmlet.cli.main import main
from swarmlet.manager import controlapi
from swarmlet.manager.context import LocalCluster, rfc3339
from swarmlet.security.tokens import JoinTokens

MANAGER_ID = "m1aaaaaaaaaaaaaaaaaaaaaaa"
CLUSTER_ID = "c1cccccccccccccccccccccccc"
T0 = 1_795_000_000.0


class NodeState:
    """What the daemon hands handlers as `request.context`: /info's Swarm section, and the
    cluster context when this node is a manager (`state` says what it is)."""

    def __init__(self, server: ClusterApiServer):
        self.server = server
        self.node_id = MANAGER_ID

    def swarm_info(self) -> dict:
        manager = self.server.state == "manager"
        return {
            "NodeID": self.node_id,
            "NodeAddr": "198.18.0.1",
            "LocalNodeState": "active" if self.server.state != "inactive" else "inactive",
            "ControlAvailable": manager,
            "Error": "",
            "RemoteManagers": [{"NodeID": MANAGER_ID, "Addr": "198.18.0.1:2377"}],
        }

    def cluster_context(self):
        if self.server.state != "manager":
            raise not_a_manager(self.server.state)
        return self.server.local.context()


class ClusterApiServer:
    def __init__(self, get_context=None):
        self.base = tempfile.mkdtemp(prefix="swl-capi-", dir="/tmp")
        self.path = os.path.join(self.base, "api.sock")
        self.host = "unix://" + self.path
        self.state = "manager"
        self.clock = T0
        self.local = LocalCluster()
        self.router = build_router()
        register_cluster_routes(self.router, get_context)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._token = None
        self._cancel = None
        self._error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> ClusterApiServer:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"API server did not start: {self._error!r}")
        return self

    def __exit__(self, *exc) -> None:
        if self._token is not None:
            trio.from_thread.run_sync(self._cancel.cancel, trio_token=self._token)
        self._thread.join(10)
        shutil.rmtree(self.base, ignore_errors=True)

    def _run(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        sock = bind_unix_socket(self.path)
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        server = ApiServer(self.router, NodeState(self), idle_timeout=30)
        async with trio.open_nursery() as nursery:
            self._cancel = nursery.cancel_scope
            await nursery.start(server.serve, [listener])
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()

    # -- the cluster --------------------------------------------------------------------------
    def reset(self) -> None:
        """A fresh cluster holding only the cluster object and this manager node."""
        self.state = "manager"
        self.clock = T0
        self.local = LocalCluster(node_id=MANAGER_ID, clock=self.tick)
        root = nacl.signing.SigningKey.generate().verify_key.encode()
        self.root_public_key = root
        tokens = JoinTokens.generate(root)
        self.propose(
            controlapi.create_cluster(
                CLUSTER_ID,
                self.now(),
                join_tokens={"Worker": str(tokens.worker), "Manager": str(tokens.manager)},
                root_public_key=root.hex(),
            )
        )
        self.add_node(MANAGER_ID, "node1", "manager", leader=True)

    def tick(self) -> float:
        self.clock += 1.0
        return self.clock

    def now(self) -> str:
        return rfc3339(self.tick())

    def propose(self, command: dict):
        """Apply a command on the server's own thread (the store belongs to it)."""
        result = trio.from_thread.run(self.local.propose, command, trio_token=self._token)
        return result.unwrap()

    def read(self, fn):
        return trio.from_thread.run_sync(fn, self.local.store, trio_token=self._token)

    def add_node(
        self, node_id: str, hostname: str, role: str = "worker", state: str = "ready", **kw
    ) -> dict:
        leader = kw.pop("leader", False)
        command = controlapi.new_node(node_id, self.now(), hostname, role, "198.18.0.9:2377", **kw)
        node = command["object"]
        node["Status"]["State"] = state
        node["Description"]["Engine"]["EngineVersion"] = "20.10.24"
        if role == "manager":
            node["ManagerStatus"] = {
                "Leader": leader,
                "Reachability": "reachable",
                "Addr": "198.18.0.9:2377",
            }
        return self.propose(command)

    # -- clients ----------------------------------------------------------------------------
    def client(self) -> Client:
        return Client(self.host, timeout=10)

    def cli(self, *argv: str, stdin: bytes = b"") -> tuple[int, str, str]:
        """Run the real CLI against this server: (exit code, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        old_host = os.environ.get("SWARMLET_HOST")
        os.environ["SWARMLET_HOST"] = self.host
        old_stdin = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(argv))
        finally:
            sys.stdin = old_stdin
            if old_host is None:
                os.environ.pop("SWARMLET_HOST", None)
            else:
                os.environ["SWARMLET_HOST"] = old_host
        return code, out.getvalue(), err.getvalue()
