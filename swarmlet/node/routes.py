"""API handlers of membership: `POST /swarm/init`, `/swarm/join`, `/swarm/leave`."""

from __future__ import annotations

import json

from swarmlet.api.router import ApiError, Request, Response, Router


def _swarm(request: Request):
    swarm = getattr(request.context, "swarm", None)
    if swarm is None:
        raise ApiError(503, "this daemon does not run the swarm membership")
    return swarm


def swarm_context(request: Request):
    """The cluster context of this node, or Docker's refusal when it is not a manager."""
    return _swarm(request).context()


async def init(request: Request, params: dict[str, str]) -> Response:
    node_id = await _swarm(request).init(request.json() or {})
    return Response(200, json.dumps(node_id).encode(), content_type="application/json")


async def join(request: Request, params: dict[str, str]):
    await _swarm(request).join(request.json() or {})


async def leave(request: Request, params: dict[str, str]):
    await _swarm(request).leave(request.bool_param("force"))


async def unlock(request: Request, params: dict[str, str]):
    await _swarm(request).unlock(request.json() or {})


def register_membership_routes(router: Router) -> None:
    router.add("POST", "/swarm/unlock", unlock)
    router.add("POST", "/swarm/init", init)
    router.add("POST", "/swarm/join", join)
    router.add("POST", "/swarm/leave", leave)
