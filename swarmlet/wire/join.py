"""``swarm join`` on the joining node: token in, saved membership and credentials out."""

from __future__ import annotations

import os

from swarmlet.security.identity import load_or_create_identity
from swarmlet.security.node_files import (
    load_membership,
    load_rotation_trust,
    save_membership,
)
from swarmlet.security.tokens import parse_token
from swarmlet.wire.endpoint import HANDSHAKE_TIMEOUT, request_certificate
from swarmlet.wire.session import Credentials


def node_credentials(data_dir: str | os.PathLike[str]) -> Credentials:
    """This node's credentials from its data dir (certificate None if it has not joined)."""
    identity = load_or_create_identity(data_dir)
    membership = load_membership(data_dir)
    if membership is None:
        return Credentials(identity, None, None)
    cert, root = membership
    extra, issuer, xsig = load_rotation_trust(data_dir)
    return Credentials(identity, cert, root, extra_roots=extra, issuer=issuer, cross_signature=xsig)


async def join_swarm(
    data_dir: str | os.PathLike[str],
    manager_address: str,
    token_text: str,
    *,
    requested_role: str | None = None,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> Credentials:
    """Join through the manager at `manager_address`; saves and returns the new credentials.

    Raises TokenError (malformed token), JoinError (refused, or the manager is not of the
    token's swarm), ConnectionError (unreachable) or ValueError (already in a swarm).
    """
    token = parse_token(token_text.strip())
    if load_membership(data_dir) is not None:
        raise ValueError(
            "This node is already part of a swarm. Use 'swarmlet swarm leave' to leave this "
            "swarm and join another one."
        )
    identity = load_or_create_identity(data_dir)
    cert, root = await request_certificate(
        manager_address, identity, token, requested_role=requested_role, timeout=timeout
    )
    save_membership(data_dir, cert, root)
    return Credentials(identity, cert, root)
