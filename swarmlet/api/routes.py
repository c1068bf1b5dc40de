"""The local API's route table: Docker Engine API paths mapped to handlers.

Every swarm path Docker serves is registered from the start; the ones whose behaviour is not
built yet answer 501 with one line. A later part plugs in by registering its handler on the same
method and pattern (`router.add("POST", "/swarm/init", init_swarm)`), which replaces the
placeholder; see `swarmlet.api.router` for the handler contract.
"""

from __future__ import annotations

from swarmlet.api import system
from swarmlet.api.router import ApiError, Handler, Request, Router

# (method, pattern, what the user asked for, as the 501 message names it)
SWARM_ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/swarm", "swarm inspect"),
    ("POST", "/swarm/init", "swarm init"),
    ("POST", "/swarm/join", "swarm join"),
    ("POST", "/swarm/leave", "swarm leave"),
    ("POST", "/swarm/update", "swarm update"),
    ("POST", "/swarm/unlock", "swarm unlock"),
    ("GET", "/swarm/unlockkey", "swarm unlock-key"),
    ("GET", "/nodes", "node ls"),
    ("GET", "/nodes/{id}", "node inspect"),
    ("DELETE", "/nodes/{id}", "node rm"),
    ("POST", "/nodes/{id}/update", "node update"),
    ("GET", "/services", "service ls"),
    ("POST", "/services/create", "service create"),
    ("GET", "/services/{id}", "service inspect"),
    ("DELETE", "/services/{id}", "service rm"),
    ("POST", "/services/{id}/update", "service update"),
    ("GET", "/services/{id}/logs", "service logs"),
    ("GET", "/tasks", "task ls"),
    ("GET", "/tasks/{id}", "task inspect"),
    ("GET", "/tasks/{id}/logs", "task logs"),
    ("GET", "/networks", "network ls"),
    ("POST", "/networks/create", "network create"),
    ("GET", "/networks/{id}", "network inspect"),
    ("DELETE", "/networks/{id}", "network rm"),
    ("GET", "/secrets", "secret ls"),
    ("POST", "/secrets/create", "secret create"),
    ("GET", "/secrets/{id}", "secret inspect"),
    ("DELETE", "/secrets/{id}", "secret rm"),
    ("POST", "/secrets/{id}/update", "secret update"),
    ("GET", "/configs", "config ls"),
    ("POST", "/configs/create", "config create"),
    ("GET", "/configs/{id}", "config inspect"),
    ("DELETE", "/configs/{id}", "config rm"),
    ("POST", "/configs/{id}/update", "config update"),
]


def not_implemented(what: str) -> Handler:
    """A placeholder handler: 501 `<what> is not implemented yet`."""

    def handler(request: Request, params: dict[str, str]):
        raise ApiError(501, f"{what} is not implemented yet")

    handler.__name__ = "not_implemented_" + what.replace(" ", "_").replace("-", "_")
    return handler


def build_router() -> Router:
    """The daemon's router with today's handlers; later parts `add` theirs on top."""
    router = Router()
    router.add("GET", "/_ping", system.ping)
    router.add("HEAD", "/_ping", system.ping)
    router.add("GET", "/version", system.version)
    router.add("GET", "/info", system.info)
    for method, pattern, what in SWARM_ROUTES:
        router.add(method, pattern, not_implemented(what))
    return router
