"""`swarm init|join|join-token|leave|update|inspect|unlock|unlock-key|ca` (+ top-level aliases)."""

from __future__ import annotations

import sys

from swarmlet.cli import opts
from swarmlet.cli.common import CLIError, add_format, add_quiet, client, group, leaf
from swarmlet.cli.format import format_inspect

AVAILABILITY = ("active", "pause", "drain")


def register(sub) -> None:
    g = group(sub, "swarm", "Manage Swarm")
    _init(g)
    _join(g)
    p = leaf(g, "join-token", "[OPTIONS] (worker|manager)", "Manage join tokens", cmd_join_token)
    p.add_argument("role", metavar="ROLE")
    add_quiet(p, "Only display token")
    p.add_argument("--rotate", action="store_true", help="Rotate join token")
    _leave(g)
    p = leaf(g, "update", "[OPTIONS]", "Update the swarm", cmd_update)
    _cluster_flags(p)
    p = leaf(g, "inspect", "[OPTIONS]", "Display detailed information on the swarm", cmd_inspect)
    add_format(p, "inspect")
    leaf(g, "unlock", "", "Unlock swarm", cmd_unlock)
    p = leaf(g, "unlock-key", "[OPTIONS]", "Manage the unlock key", cmd_unlock_key)
    add_quiet(p, "Only display token")
    p.add_argument("--rotate", action="store_true", help="Rotate unlock key")
    p = leaf(g, "ca", "[OPTIONS]", "Display and rotate the root CA", cmd_ca)
    p.add_argument(
        "--ca-cert",
        metavar="pem-file",
        help="Path to the PEM-formatted root CA certificate to use for the new cluster "
        "(refused: swarmlet's roots are Ed25519 keys it makes itself)",
    )
    p.add_argument(
        "--ca-key",
        metavar="pem-file",
        help="Path to the PEM-formatted root CA key to use for the new cluster "
        "(refused: swarmlet's roots are Ed25519 keys it makes itself)",
    )
    p.add_argument(
        "--cert-expiry",
        type=opts.duration,
        metavar="duration",
        help="Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)",
    )
    p.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="Exit immediately instead of waiting for the root rotation to converge",
    )
    p.add_argument(
        "--external-ca",
        action="append",
        metavar="external-ca",
        help="Specifications of one or more certificate signing endpoints (stored; swarmlet signs certificates itself)",
    )
    add_quiet(p, "Suppress progress output")
    p.add_argument(
        "--rotate",
        action="store_true",
        help="Rotate the swarm CA: a new root is generated, every node is re-issued a certificate under it, and the join tokens are replaced",
    )
    # Top-level aliases, as `docker init|join|leave` were in the walkthrough's era.
    _init(sub, alias=True)
    _join(sub, alias=True)
    _leave(sub, alias=True)


def _init(sub, alias=False):
    p = leaf(sub, "init", "[OPTIONS]", "Initialize a swarm", cmd_init)
    _address_flags(p)
    p.add_argument(
        "--data-path-port",
        type=opts.uint,
        metavar="uint32",
        help="Port number to use for data path traffic (1024 - 49151). If no value is set or is set to 0, the default port (4789) is used.",
    )
    p.add_argument(
        "--default-addr-pool",
        action="append",
        metavar="ipNetSlice",
        help="default address pool in CIDR format (default [])",
    )
    p.add_argument(
        "--default-addr-pool-mask-length",
        type=opts.uint,
        metavar="uint32",
        help="default address pool subnet mask length (default 24)",
    )
    p.add_argument(
        "--force-new-cluster",
        action="store_true",
        help="Force create a new cluster from current state",
    )
    _availability_flag(p)
    _cluster_flags(p)


def _address_flags(p):
    """The node address flags `init` and `join` share."""
    p.add_argument(
        "--advertise-addr",
        metavar="string",
        help="Advertised address (format: <ip|interface>[:port])",
    )
    p.add_argument(
        "--listen-addr",
        metavar="node-addr",
        default="0.0.0.0:2377",
        help="Listen address (format: <ip|interface>[:port]) (default 0.0.0.0:2377)",
    )
    p.add_argument(
        "--data-path-addr",
        metavar="string",
        help="Address or interface to use for data path traffic (format: <ip|interface>)",
    )


def _availability_flag(p):
    p.add_argument(
        "--availability",
        type=opts.choice(*AVAILABILITY),
        metavar="string",
        default="active",
        help='Availability of the node ("active", "pause", "drain") (default "active")',
    )


def _cluster_flags(p):
    p.add_argument(
        "--autolock",
        type=opts.boolean,
        nargs="?",
        const=True,
        metavar="",
        help="Enable manager autolocking (requiring an unlock key to start a stopped manager)",
    )
    p.add_argument(
        "--cert-expiry",
        type=opts.duration,
        metavar="duration",
        help="Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)",
    )
    p.add_argument(
        "--dispatcher-heartbeat",
        type=opts.duration,
        metavar="duration",
        help="Dispatcher heartbeat period (ns|us|ms|s|m|h) (default 5s)",
    )
    p.add_argument(
        "--raft-heartbeat-interval",
        type=opts.duration,
        metavar="duration",
        help="Raft heartbeat interval, a multiple of 100ms (default 200ms)",
    )
    p.add_argument(
        "--raft-election-timeout",
        type=opts.duration,
        metavar="duration",
        help="Raft election timeout, a multiple of 100ms; randomized up to twice it (default 500ms)",
    )
    p.add_argument(
        "--external-ca",
        action="append",
        metavar="external-ca",
        help="Specifications of one or more certificate signing endpoints",
    )
    p.add_argument(
        "--max-snapshots",
        type=opts.uint,
        metavar="uint",
        help="Number of additional Raft snapshots to retain",
    )
    p.add_argument(
        "--snapshot-interval",
        type=opts.uint,
        metavar="uint",
        help="Number of log entries between Raft snapshots (default 10000)",
    )
    p.add_argument(
        "--task-history-limit",
        type=opts.integer,
        metavar="int",
        help="Task history retention limit (default 5)",
    )
    p.add_argument(
        "--auto-accept",
        action="append",
        type=opts.choice("worker", "manager", "none"),
        metavar="value",
        help="Auto acceptance policy (worker, manager or none) (1.12 form; join tokens decide the role)",
    )


def _join(sub, alias=False):
    p = leaf(sub, "join", "[OPTIONS] HOST:PORT", "Join a swarm as a node and/or manager", cmd_join)
    p.add_argument("remote", metavar="HOST:PORT")
    p.add_argument("--token", metavar="string", help="Token for entry into the swarm")
    _address_flags(p)
    _availability_flag(p)


def _leave(sub, alias=False):
    p = leaf(sub, "leave", "[OPTIONS]", "Leave the swarm", cmd_leave)
    p.add_argument("remote", nargs="?", metavar="HOST:PORT", help=None)
    p.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="Force this node to leave the swarm, ignoring warnings",
    )


def cluster_spec(args, spec: dict | None = None) -> dict:
    """The cluster Spec with `swarm init/update` flags applied (only the flags given)."""
    spec = dict(spec or {})

    def section(name):
        spec[name] = dict(spec.get(name) or {})
        return spec[name]

    if args.task_history_limit is not None:
        section("Orchestration")["TaskHistoryRetentionLimit"] = args.task_history_limit
    if args.snapshot_interval is not None:
        section("Raft")["SnapshotInterval"] = args.snapshot_interval
    if args.max_snapshots is not None:
        section("Raft")["KeepOldSnapshots"] = args.max_snapshots
    _raft_timing(args, section)
    if args.dispatcher_heartbeat is not None:
        section("Dispatcher")["HeartbeatPeriod"] = args.dispatcher_heartbeat
    if args.cert_expiry is not None:
        section("CAConfig")["NodeCertExpiry"] = args.cert_expiry
    if args.external_ca:
        section("CAConfig")["ExternalCAs"] = [_external_ca(e) for e in args.external_ca]
    if args.autolock is not None:
        section("EncryptionConfig")["AutoLockManagers"] = args.autolock
    if args.auto_accept:
        policies = []
        accept = set(args.auto_accept)
        for role in ("worker", "manager"):
            policies.append({"Role": role, "Autoaccept": role in accept and "none" not in accept})
        section("AcceptancePolicy")["Policies"] = policies
    return spec


# One raft tick (swarmlet.raft.runner.Timing.tick): the unit of Raft.HeartbeatTick/ElectionTick.
RAFT_TICK_NS = 100_000_000


def _raft_ticks(ns: int, flag: str) -> int:
    if ns <= 0:
        raise CLIError(f"invalid argument for {flag}: it must be a positive duration")
    if ns % RAFT_TICK_NS:
        raise CLIError(f"invalid argument for {flag}: it must be a multiple of 100ms (a raft tick)")
    return ns // RAFT_TICK_NS


def _raft_timing(args, section) -> None:
    """`--raft-heartbeat-interval` / `--raft-election-timeout` as Raft.HeartbeatTick /
    Raft.ElectionTick; the pair they leave must keep the election timeout the longer."""
    heartbeat = getattr(args, "raft_heartbeat_interval", None)
    election = getattr(args, "raft_election_timeout", None)
    if heartbeat is None and election is None:
        return
    raft = section("Raft")
    if heartbeat is not None:
        raft["HeartbeatTick"] = _raft_ticks(heartbeat, "--raft-heartbeat-interval")
    if election is not None:
        raft["ElectionTick"] = _raft_ticks(election, "--raft-election-timeout")
    hb, el = raft.get("HeartbeatTick"), raft.get("ElectionTick")
    if isinstance(hb, int) and isinstance(el, int) and el <= hb:
        raise CLIError(
            f"the raft election timeout ({el * 100}ms) must be greater than the heartbeat "
            f"interval ({hb * 100}ms)"
        )


def _external_ca(text: str) -> dict:
    ca: dict = {"Options": {}}
    for field in text.split(","):
        key, sep, value = field.partition("=")
        if not sep:
            raise CLIError(f"invalid field '{field}' must be a key=value pair")
        key = key.lower()
        if key == "protocol":
            ca["Protocol"] = value.lower()
        elif key == "url":
            ca["URL"] = value
        elif key == "cacert":
            ca["CACert"] = value
        else:
            ca["Options"][key] = value
    if "Protocol" not in ca:
        raise CLIError("the external-ca option needs a protocol= parameter")
    if "URL" not in ca:
        raise CLIError("the external-ca option needs a url= parameter")
    return ca


def _manager_addr(api) -> str:
    info = api.get("/info") or {}
    swarm = info.get("Swarm") or {}
    for m in swarm.get("RemoteManagers") or []:
        if m.get("NodeID") == swarm.get("NodeID"):
            return m.get("Addr", "")
    managers = swarm.get("RemoteManagers") or []
    return managers[0].get("Addr", "") if managers else swarm.get("NodeAddr", "")


def _started_daemon(args):
    """A client of this host's daemon, started first if none runs (as init and join do)."""
    api = client(args)
    from swarmlet.cli.autostart import ensure_daemon

    ensure_daemon(api.host)
    return api


def _address_body(args) -> dict:
    """The address fields of the init and join requests (the flags of `_address_flags`)."""
    return {
        "ListenAddr": args.listen_addr,
        "AdvertiseAddr": args.advertise_addr or "",
        "DataPathAddr": args.data_path_addr or "",
    }


def cmd_init(args) -> int:
    api = _started_daemon(args)
    body = {
        **_address_body(args),
        "DataPathPort": args.data_path_port or 0,
        "DefaultAddrPool": args.default_addr_pool or [],
        "SubnetSize": args.default_addr_pool_mask_length or 0,
        "ForceNewCluster": bool(args.force_new_cluster),
        "Availability": args.availability,
        "Spec": cluster_spec(args),
        "AutoLockManagers": bool(args.autolock),
    }
    node_id = api.post("/swarm/init", body)
    print(f"Swarm initialized: current node ({node_id}) is now a manager.\n")
    print(_join_instructions(api, "worker"))
    print(
        "To add a manager to this swarm, run 'swarmlet swarm join-token manager' and follow the instructions.\n"
    )
    if args.autolock:
        key = (api.get("/swarm/unlockkey") or {}).get("UnlockKey", "")
        print(_unlock_instructions(key))
    return 0


def _join_instructions(api, role: str) -> str:
    swarm = api.get("/swarm") or {}
    token = (swarm.get("JoinTokens") or {}).get(role.capitalize(), "")
    addr = _manager_addr(api)
    return (
        f"To add a {role} to this swarm, run the following command:\n\n"
        f"    swarmlet swarm join --token {token} {addr}\n"
    )


def cmd_join(args) -> int:
    api = _started_daemon(args)
    body = {
        **_address_body(args),
        "RemoteAddrs": [args.remote],
        "JoinToken": args.token or "",
        "Availability": args.availability,
    }
    api.post("/swarm/join", body)
    info = api.get("/info") or {}
    manager = (info.get("Swarm") or {}).get("ControlAvailable")
    print(f"This node joined a swarm as a {'manager' if manager else 'worker'}.")
    return 0


def cmd_join_token(args) -> int:
    role = args.role.lower()
    if role not in ("worker", "manager"):
        raise CLIError("unknown role " + args.role)
    api = client(args)
    if args.rotate:
        swarm = api.get("/swarm") or {}
        flag = "rotateWorkerToken" if role == "worker" else "rotateManagerToken"
        api.post(
            "/swarm/update",
            swarm.get("Spec") or {},
            version=swarm.get("Version", {}).get("Index", 0),
            **{flag: "true"},
        )
        if not args.quiet:
            print(f"Successfully rotated {role} join token.\n")
    if args.quiet:
        swarm = api.get("/swarm") or {}
        print((swarm.get("JoinTokens") or {}).get(role.capitalize(), ""))
        return 0
    print(_join_instructions(api, role))
    return 0


def cmd_leave(args) -> int:
    client(args).post("/swarm/leave", force="true" if args.force else None)
    print("Node left the swarm.")
    return 0


def cmd_update(args) -> int:
    api = client(args)
    swarm = api.get("/swarm") or {}
    spec = cluster_spec(args, swarm.get("Spec"))
    query = {"version": swarm.get("Version", {}).get("Index", 0)}
    api.request("POST", "/swarm/update", query, spec)
    print("Swarm updated.")
    if args.autolock:
        key = (api.get("/swarm/unlockkey") or {}).get("UnlockKey", "")
        print(_unlock_instructions(key))
    return 0


def cmd_inspect(args) -> int:
    swarm = client(args).get("/swarm")
    sys.stdout.write(format_inspect([swarm], args.format))
    return 0


def cmd_unlock(args) -> int:
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass("Please enter unlock key: ")
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        raise CLIError("unlock key is empty")
    client(args).post("/swarm/unlock", {"UnlockKey": key})
    return 0


def _unlock_instructions(key: str) -> str:
    return (
        "To unlock a swarm manager after it restarts, run the `swarmlet swarm unlock`\n"
        "command and provide the following key:\n\n"
        f"    {key}\n\n"
        "Please remember to store this key in a password manager, since without it you\n"
        "will not be able to restart the manager.\n"
    )


def cmd_unlock_key(args) -> int:
    api = client(args)
    if args.rotate:
        swarm = api.get("/swarm") or {}
        if not (swarm.get("Spec", {}).get("EncryptionConfig") or {}).get("AutoLockManagers"):
            raise CLIError("cannot rotate because autolock is not turned on")
        api.request(
            "POST",
            "/swarm/update",
            {"version": swarm.get("Version", {}).get("Index", 0), "rotateManagerUnlockKey": "true"},
            swarm.get("Spec"),
        )
        if not args.quiet:
            print("Successfully rotated manager unlock key.\n")
    key = (api.get("/swarm/unlockkey") or {}).get("UnlockKey", "")
    if not key:
        raise CLIError("no unlock key is set")
    print(key if args.quiet else _unlock_instructions(key))
    return 0


def cmd_ca(args) -> int:
    if not args.rotate:
        for flag, given in (
            ("ca-cert", args.ca_cert),
            ("ca-key", args.ca_key),
            ("cert-expiry", args.cert_expiry is not None),
            ("external-ca", args.external_ca),
        ):
            if given:
                raise CLIError(f"`--{flag}` flag requires the `--rotate` flag to update the CA")
    api = client(args)
    swarm = api.get("/swarm") or {}
    if not args.rotate:
        _print_trust_root(swarm)
        return 0
    spec = dict(swarm.get("Spec") or {})
    ca = dict(spec.get("CAConfig") or {})
    if args.cert_expiry is not None:
        ca["NodeCertExpiry"] = args.cert_expiry
    if args.external_ca:
        ca["ExternalCAs"] = [_external_ca(e) for e in args.external_ca]
    for path, key in ((args.ca_cert, "SigningCACert"), (args.ca_key, "SigningCAKey")):
        if path:
            with open(path, encoding="utf-8") as fh:
                ca[key] = fh.read()
    ca["ForceRotate"] = int(ca.get("ForceRotate") or 0) + 1
    spec["CAConfig"] = ca
    old_root = (swarm.get("TLSInfo") or {}).get("CertIssuerPublicKey", "")
    api.request(
        "POST", "/swarm/update", {"version": swarm.get("Version", {}).get("Index", 0)}, spec
    )
    if args.detach:
        return 0
    out = None if args.quiet else sys.stdout
    swarm = wait_for_root_rotation(api, old_root, out)
    if not args.quiet:
        _print_trust_root(swarm)
    return 0


def _print_trust_root(swarm: dict) -> None:
    print((swarm.get("TLSInfo") or {}).get("TrustRoot", "").rstrip("\n"))


def rotation_counts(nodes: list[dict], old_root: str) -> tuple[int, int]:
    """(live nodes whose certificate is no longer of `old_root`, live nodes)."""
    live = [n for n in nodes if ((n.get("Status") or {}).get("State")) in ("ready", "unknown")]
    done = sum(
        1
        for n in live
        if ((n.get("Description") or {}).get("TLSInfo") or {}).get("CertIssuerPublicKey")
        not in ("", None, old_root)
    )
    return done, len(live)


def progress_line(done: int, total: int, width: int = 50) -> str:
    filled = width * done // total if total else width
    bar = "=" * max(0, filled - 1) + (">" if filled else "") + " " * (width - filled)
    return f"rotated TLS certificates:  [{bar}] {done}/{total} nodes"


def wait_for_root_rotation(api, old_root: str, out=None, poll: float = 0.5) -> dict:
    """Wait until the swarm's root rotation is done, showing how many live nodes hold a
    certificate of the new root (redrawn on a terminal, printed on change otherwise)."""
    import time

    tty = out is not None and out.isatty()
    last = None
    while True:
        swarm = api.get("/swarm") or {}
        rotating = swarm.get("RootRotationInProgress")
        done, total = rotation_counts(api.get("/nodes") or [], old_root)
        if not rotating:
            done = total
        line = progress_line(done, total)
        if out is not None and line != last:
            out.write(("\r" + line) if tty else line + "\n")
            out.flush()
            last = line
        if not rotating:
            if tty:
                out.write("\n")
            return swarm
        time.sleep(poll)
