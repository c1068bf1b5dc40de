"""What every manager-side route shares: reaching the cluster, reading it linearizably, writing
through `propose`, naming objects, Docker's filter semantics, and Docker's error texts.

A route module gets a `Cluster` (built by `swarmlet.api.cluster_routes.register_cluster_routes`
from the `get_context` callable the daemon supplies) and turns requests into reads of the store
or commands from `swarmlet.manager.controlapi`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from swarmlet.api.router import ApiError, Request
from swarmlet.manager.context import ClusterContext, NotLeaderError
from swarmlet.store.errors import NAME_CONFLICT, AlreadyExists, StoreError
from swarmlet.store.state import ReadView

# Docker's errNoManager texts, with `swarmlet` where Docker says `docker`.
NOT_IN_SWARM = (
    'This node is not a swarm manager. Use "swarmlet swarm init" or "swarmlet swarm join" '
    "to connect this node to swarm and try again."
)
WORKER_NODE = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a manager."
)
MANAGER_NOT_READY = (
    "This node is not a swarm manager. Manager is being prepared or has trouble connecting "
    "to the cluster."
)
SWARM_LOCKED = (
    'Swarm is encrypted and needs to be unlocked before it can be used. Please use "swarmlet '
    'swarm unlock" to unlock it.'
)
_NO_MANAGER_MESSAGES = {
    "inactive": NOT_IN_SWARM,
    "worker": WORKER_NODE,
    "preparing": MANAGER_NOT_READY,
    "locked": SWARM_LOCKED,
}


def not_a_manager(state: str = "inactive") -> ApiError:
    """The 503 a node answers to a manager-only request, in Docker's words. `state` is
    "inactive" (in no swarm), "worker", "preparing" (a manager still joining raft) or
    "locked" (an autolocked manager waiting for `swarm unlock`)."""
    try:
        return ApiError(503, _NO_MANAGER_MESSAGES[state])
    except KeyError:
        raise ValueError(f"unknown node state {state!r}") from None


GetContext = Callable[[Request], ClusterContext]


def context_from_request(request: Request) -> ClusterContext:
    """The default `get_context`: `request.context` when it is a ClusterContext, or an object
    with a `cluster_context()` method (raising the not-a-manager ApiError itself)."""
    ctx = request.context
    if isinstance(ctx, ClusterContext):
        return ctx
    provider = getattr(ctx, "cluster_context", None)
    if provider is None:
        raise not_a_manager("inactive")
    return provider()


@dataclass
class Cluster:
    """Handlers' access to the cluster: reads after a read barrier, writes through propose."""

    get_context: GetContext

    async def read(self, request: Request) -> ClusterContext:
        """The context, once everything committed before this request is applied here."""
        ctx = self.get_context(request)
        try:
            await ctx.read_barrier()
        except NotLeaderError as exc:
            raise ApiError(503, str(exc)) from None
        return ctx

    async def write(self, ctx: ClusterContext, command: dict) -> Any:
        """Propose one command and return what it wrote (a list for a batch). A command that
        fails to apply (a race lost on Version.Index included) is reported, never retried."""
        try:
            result = await ctx.propose(command)
        except NotLeaderError as exc:
            raise ApiError(503, str(exc)) from None
        return result.unwrap()


def api_errors(handler):
    """Store and control API errors answer with their HTTP status and Docker's rpc text."""

    async def wrapped(request: Request, params: dict[str, str]):
        try:
            return await handler(request, params)
        except StoreError as exc:
            raise ApiError(exc.http_status, str(exc)) from None

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def lookup(view: ReadView, kind: str, ref: str) -> dict:
    """An object by full ID, exact name, or unique ID prefix, with the daemon's own texts
    ("service x not found" 404, "service x is ambiguous (2 matches found)" 400)."""
    try:
        return view.resolve(kind, ref)
    except StoreError as exc:
        raise ApiError(exc.http_status, exc.desc) from None


def name_conflict(exc: StoreError, what: str) -> StoreError:
    """swarmkit's wording for a name taken at create: the generic text and what clashed."""
    if isinstance(exc, AlreadyExists) and exc.desc == NAME_CONFLICT:
        return AlreadyExists(what)
    return exc


async def create_with_name(cluster: Cluster, ctx: ClusterContext, command: dict, what: str):
    """Propose a create; a name conflict reads as swarmkit words it for this kind."""
    try:
        return await cluster.write(ctx, command)
    except StoreError as exc:
        raise name_conflict(exc, what) from None


def version_param(request: Request, what: str) -> int:
    """The required `version` query parameter, refused as Docker's daemon refuses it."""
    raw = request.param("version", "") or ""
    if not raw.isdigit() or not raw.isascii():
        raise ApiError(
            400,
            f"invalid {what} version '{raw}': strconv.ParseUint: parsing {_go_quote(raw)}: "
            "invalid syntax",
        )
    return int(raw)


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def body_object(request: Request, what: str) -> dict:
    body = request.json()
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ApiError(400, f"invalid {what}: the request body must be a JSON object")
    return body


# -- filters, as Docker's daemon and swarmkit match them ---------------------------------------
def kv_filters(values: Iterable[str]) -> dict[str, str]:
    """`label=k` / `label=k=v` filter values as swarmkit's label map (ConvertKVStringsToMap)."""
    out = {}
    for value in values:
        key, _, wanted = value.partition("=")
        out[key] = wanted
    return out


def match_labels(labels: dict | None, wanted: dict[str, str]) -> bool:
    """Every wanted key present, with the wanted value when one is given."""
    labels = labels or {}
    for key, value in wanted.items():
        if key not in labels or (value and labels[key] != value):
            return False
    return True


def match_prefix(value: str, prefixes: list[str] | None) -> bool:
    return not prefixes or any(value.startswith(p) for p in prefixes)


def match_exact(value: str, candidates: list[str] | None) -> bool:
    return not candidates or value in candidates


def match_regex(value: str, patterns: list[str] | None) -> bool:
    """Docker's `filters.Args.Match`: an exact value, or a regular expression found in it."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == value:
            return True
        try:
            if re.search(pattern, value):
                return True
        except re.error:
            continue
    return False
