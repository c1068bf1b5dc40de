"""The first manager's security state (``swarm init``) and a node's credentials at start."""

from __future__ import annotations

import os
from dataclasses import dataclass

from swarmlet.security.certs import DEFAULT_CERT_LIFETIME, Certificate, ClusterRoot
from swarmlet.security.identity import NodeIdentity, load_or_create_identity
from swarmlet.security.node_files import load_membership, save_membership
from swarmlet.security.tokens import JoinTokens


@dataclass(frozen=True)
class NewCluster:
    """What ``init`` makes. `root` and `tokens` belong in the raft store, not on disk."""

    root: ClusterRoot
    tokens: JoinTokens
    identity: NodeIdentity
    certificate: Certificate


def init_cluster(
    data_dir: str | os.PathLike[str], now: float, lifetime: float = DEFAULT_CERT_LIFETIME
) -> NewCluster:
    """Make a root, both join tokens and this node's manager certificate; save membership."""
    if load_membership(data_dir) is not None:
        raise ValueError(
            "This node is already part of a swarm. Use 'swarmlet swarm leave' to leave this "
            "swarm and join another one."
        )
    identity = load_or_create_identity(data_dir)
    root = ClusterRoot.generate()
    cert = root.issue(identity.node_id, "manager", identity.public_key, now, lifetime=lifetime)
    save_membership(data_dir, cert, root.public_key)
    return NewCluster(root, JoinTokens.generate(root.public_key), identity, cert)
