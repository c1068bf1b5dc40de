"""Node specs (``node update``, promote/demote, 1.12's accept)."""

from __future__ import annotations

import copy

from swarmlet.store.errors import InvalidArgument
from swarmlet.store.objects import NODE_AVAILABILITIES, NODE_MEMBERSHIPS, NODE_ROLES, ordered

from .common import labels, opt_str


def validate_node_spec(spec) -> dict:
    """A checked copy of a NodeSpec, with Docker's daemon errors ("invalid Role: ...")."""
    if not isinstance(spec, dict):
        raise InvalidArgument("node spec must be an object")
    spec = copy.deepcopy(spec)
    opt_str(spec, "Name", "NodeSpec")
    spec["Labels"] = labels(spec.get("Labels"))
    role = spec.get("Role")
    if role is not None and (not isinstance(role, str) or role.lower() not in NODE_ROLES):
        raise InvalidArgument(f'invalid Role: "{role}"')
    availability = spec.get("Availability")
    if availability is not None and (
        not isinstance(availability, str) or availability.lower() not in NODE_AVAILABILITIES
    ):
        raise InvalidArgument(f'invalid Availability: "{availability}"')
    membership = spec.get("Membership")
    if membership is not None and (
        not isinstance(membership, str) or membership.lower() not in NODE_MEMBERSHIPS
    ):
        raise InvalidArgument(f'invalid Membership: "{membership}"')
    for key in ("Role", "Availability", "Membership"):
        if spec.get(key) is not None:
            spec[key] = spec[key].lower()
    return ordered(spec, "NodeSpec")
