"""`GET /swarm`, `POST /swarm/update` (join token and unlock key rotation) and
`GET /swarm/unlockkey` on a manager.

The unlock key lives with the node's raft storage, not in the store, so the two unlock-key
operations go through optional hooks of the context:

- `ctx.unlock_key()` -> str (or an awaitable of it): the current key, "" without autolock;
- `ctx.rotate_unlock_key(cluster)` -> dict | None (or an awaitable of it): makes a new key
  and returns swarmlet fields to store with the same cluster update, so that the rotation and
  the update commit together or not at all. The hook must not put the key in force itself:
  the node does that when the committed cluster object carries the new fields.

Without them these operations answer 501.
"""

from __future__ import annotations

import base64
import binascii
import inspect

from swarmlet.api.cluster_common import (
    Cluster,
    api_errors,
    body_object,
    not_a_manager,
    version_param,
)
from swarmlet.api.router import ApiError, Request, Router
from swarmlet.manager import controlapi
from swarmlet.manager.context import ClusterContext
from swarmlet.store.errors import OutOfSequence
from swarmlet.store.objects import CLUSTER, SWARMLET_KEY, docker_view, ordered, version_of


def register(router: Router, cluster: Cluster) -> None:
    @api_errors
    async def inspect_swarm(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        return swarm_view(_current(ctx))

    @api_errors
    async def update_swarm(request: Request, params: dict[str, str]):
        version = version_param(request, "swarm")
        rotate_worker = request.bool_param("rotateWorkerToken")
        rotate_manager = request.bool_param("rotateManagerToken")
        rotate_unlock = request.bool_param("rotateManagerUnlockKey")
        spec = body_object(request, "swarm spec")
        ctx = await cluster.read(request)
        current = _current(ctx)
        extra = {}
        if "AcceptancePolicy" in spec:
            spec = dict(spec)
            accept = dict((current.get(SWARMLET_KEY) or {}).get("AutoAccept") or {})
            accept.update(auto_accept_from_policy(spec.pop("AcceptancePolicy")))
            extra["AutoAccept"] = accept
        tokens = {}
        if rotate_worker:
            tokens["Worker"] = rotated_token(current, "Worker")
        if rotate_manager:
            tokens["Manager"] = rotated_token(current, "Manager")
        now = ctx.timestamp()
        rotate_root = _root_rotation_requested(current, spec)

        def build() -> dict:
            return controlapi.update_cluster(
                current,
                spec,
                version,
                now,
                join_tokens=tokens or None,
                swarmlet=extra or None,
                root_rotation_in_progress=True if rotate_root else None,
            )

        command = build()  # refuses a bad spec before any key is made
        if rotate_root:
            from swarmlet.manager.ca import start_rotation
            from swarmlet.security.certs import ClusterRoot

            extra.update(start_rotation(current, ClusterRoot.generate()))
            command = build()
        if rotate_unlock:
            hook = getattr(ctx, "rotate_unlock_key", None)
            if hook is None:
                raise ApiError(501, "rotating the unlock key is not available on this node")
            if version != version_of(current):
                raise OutOfSequence()
            extra.update(await _maybe_await(hook(current)) or {})
            command = build()
        await cluster.write(ctx, command)
        return None

    @api_errors
    async def unlock_key(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        _current(ctx)
        hook = getattr(ctx, "unlock_key", None)
        if hook is None:
            raise ApiError(501, "the unlock key is not available on this node")
        return {"UnlockKey": await _maybe_await(hook()) or ""}

    router.add("GET", "/swarm", inspect_swarm)
    router.add("POST", "/swarm/update", update_swarm)
    router.add("GET", "/swarm/unlockkey", unlock_key)


def _root_rotation_requested(current: dict, spec: dict) -> bool:
    """`swarm ca --rotate` (a changed CAConfig.ForceRotate). A root given by the operator
    cannot be used: swarmlet's roots are Ed25519 keys, not X.509 certificates."""
    from swarmlet.manager.ca import rotation_requested

    ca = spec.get("CAConfig") if isinstance(spec.get("CAConfig"), dict) else {}
    for key in ("SigningCACert", "SigningCAKey"):
        if ca.get(key):
            raise ApiError(
                400,
                "swarmlet cannot use a given root CA certificate or key (--ca-cert, --ca-key): "
                "its roots are Ed25519 keys, not X.509 certificates. Use 'swarmlet swarm ca "
                "--rotate' alone to make a new root.",
            )
    if "ForceRotate" not in ca:  # fields left out keep their value
        return False
    try:
        return rotation_requested(current.get("Spec"), spec)
    except ValueError as exc:
        raise ApiError(400, f"invalid CAConfig: {exc}") from None


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


def _current(ctx: ClusterContext) -> dict:
    cluster = ctx.store.cluster()
    if cluster is None:  # a manager whose store has not received the cluster object yet
        raise not_a_manager("preparing")
    return cluster


def swarm_view(cluster: dict) -> dict:
    """`GET /swarm`: Docker's Swarm object (the cluster plus its join tokens and TLS info)."""
    view = dict(docker_view(CLUSTER, cluster))
    view["TLSInfo"] = tls_info(cluster)
    return ordered(view, "Cluster")


def root_public_key(cluster: dict) -> bytes:
    """The cluster root's public key as bytes (stored as bytes, hex or base64 text)."""
    value = (cluster.get(SWARMLET_KEY) or {}).get("RootPublicKey") or b""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        return b""
    try:
        return bytes.fromhex(value)
    except ValueError:
        pass
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value.encode()


def tls_info(cluster: dict) -> dict:
    """Docker's TLSInfo of the swarm: its current root (see manager.ca.root_tls_info)."""
    from swarmlet.manager.ca import root_tls_info

    return root_tls_info(root_public_key(cluster))


def rotated_token(cluster: dict, role: str) -> str:
    """A new join token for `role` ("Worker"/"Manager"): same root digest, fresh secret."""
    from swarmlet.security import tokens

    for source in (role, "Worker", "Manager"):
        try:
            current = tokens.parse_token((cluster.get("JoinTokens") or {}).get(source, ""))
        except tokens.TokenError:
            continue
        return str(current.rotated())
    key = root_public_key(cluster)
    if len(key) != 32:
        raise ApiError(500, "cannot rotate the join token: the cluster has no valid root key")
    return str(tokens.new_token(key))


def auto_accept_from_policy(policy) -> dict:
    """1.12's `Spec.AcceptancePolicy.Policies` as swarmlet's {"worker": b, "manager": b}."""
    if not isinstance(policy, dict) or not isinstance(policy.get("Policies", []), list):
        raise ApiError(400, 'invalid AcceptancePolicy: expected {"Policies": [...]}')
    accept = {}
    for entry in policy.get("Policies") or []:
        role = (entry.get("Role") if isinstance(entry, dict) else None) or ""
        if role.lower() not in ("worker", "manager"):
            raise ApiError(400, f"invalid AcceptancePolicy role {role!r}")
        accept[role.lower()] = bool(entry.get("Autoaccept"))
    return accept
