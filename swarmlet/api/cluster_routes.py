"""The manager side of the local API: Docker Engine API v1.41's swarm object endpoints
(`/swarm`, `/nodes`, `/services`, `/tasks`, `/networks`, `/secrets`, `/configs`) answered from
the replicated store.

`register_cluster_routes(router, get_context)` replaces the 501 placeholders of
`swarmlet.api.routes.build_router()`. `get_context(request)` returns the node's
`swarmlet.manager.context.ClusterContext`, or raises the ApiError of `not_a_manager(state)`
when this node cannot answer (no swarm, a worker, a manager still joining, a locked one).

Every read waits for `ctx.read_barrier()` (linearizable reads through any manager); every write
is one command built by `swarmlet.manager.controlapi` and handed to `ctx.propose`, whose
store errors answer with their HTTP status and Docker's text (a lost compare-and-set race is
"update out of sequence", never retried behind the caller's back).
"""

from __future__ import annotations

from swarmlet.api import (
    routes_networks,
    routes_nodes,
    routes_secrets,
    routes_services,
    routes_swarm,
)
from swarmlet.api.cluster_common import (
    NOT_IN_SWARM,
    WORKER_NODE,
    Cluster,
    GetContext,
    context_from_request,
    not_a_manager,
)
from swarmlet.api.router import Router

__all__ = [
    "NOT_IN_SWARM",
    "WORKER_NODE",
    "not_a_manager",
    "register_cluster_routes",
]


def register_cluster_routes(router: Router, get_context: GetContext | None = None) -> None:
    """Plug the manager's handlers into `router`. Without `get_context`, `request.context`
    itself is used when it is a ClusterContext (or has `cluster_context()`)."""
    cluster = Cluster(get_context or context_from_request)
    for module in (routes_swarm, routes_nodes, routes_services, routes_networks, routes_secrets):
        module.register(router, cluster)
