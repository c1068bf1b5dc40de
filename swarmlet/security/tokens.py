"""Join tokens in Docker's format, and the pair (worker, manager) a cluster keeps.

``SWMTKN-1-<sha256(root public key), base36, 50 chars>-<16 random bytes, base36, 25 chars>``.
The first part pins the cluster's root (a joining node checks it before trusting anyone); the
second part is the secret that decides the role. Rotation replaces only the secret.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import nacl.utils

from swarmlet.security import base36
from swarmlet.security.certs import root_fingerprint

PREFIX = "SWMTKN-1-"
DIGEST_CHARS = 50
SECRET_CHARS = 25
SECRET_BYTES = 16
TOKEN_LENGTH = len(PREFIX) + DIGEST_CHARS + 1 + SECRET_CHARS  # 85


class TokenError(ValueError):
    """A join token that is malformed or not valid here; the message tells the user what to do."""


HOW_TO_GET = (
    "Run 'swarmlet swarm join-token worker' (or manager) on a manager to get a valid token."
)


@dataclass(frozen=True)
class JoinToken:
    root_digest: bytes  # 32 bytes
    secret: bytes  # 16 bytes

    def __str__(self) -> str:
        return (
            PREFIX
            + base36.encode(self.root_digest, DIGEST_CHARS)
            + "-"
            + base36.encode(self.secret, SECRET_CHARS)
        )

    def __repr__(self) -> str:  # never print the secret by accident
        return f"JoinToken(root_digest={self.root_digest.hex()[:12]}..., secret=<hidden>)"

    def matches_root(self, root_public_key: bytes) -> bool:
        return hmac.compare_digest(self.root_digest, root_fingerprint(root_public_key))

    def rotated(self) -> JoinToken:
        """The same cluster pin with a fresh secret."""
        return new_token_for_digest(self.root_digest)


def new_token(root_public_key: bytes) -> JoinToken:
    return new_token_for_digest(root_fingerprint(root_public_key))


def new_token_for_digest(root_digest: bytes) -> JoinToken:
    return JoinToken(root_digest, nacl.utils.random(SECRET_BYTES))


def parse_token(text: str) -> JoinToken:
    """Parse a token string exactly; TokenError with a user-facing reason otherwise."""
    if not isinstance(text, str):
        raise TokenError(f"invalid join token: not text. {HOW_TO_GET}")
    if not text.startswith(PREFIX):
        raise TokenError(
            f"invalid join token: it must start with {PREFIX!r} (is it a token from this "
            f"version of swarmlet?). {HOW_TO_GET}"
        )
    if len(text) != TOKEN_LENGTH:
        raise TokenError(
            f"invalid join token: it has {len(text)} characters, a join token has "
            f"{TOKEN_LENGTH} (was it copied completely?). {HOW_TO_GET}"
        )
    rest = text[len(PREFIX) :]
    digest_text, sep, secret_text = (
        rest[:DIGEST_CHARS],
        rest[DIGEST_CHARS],
        rest[DIGEST_CHARS + 1 :],
    )
    if sep != "-":
        raise TokenError(f"invalid join token: malformed (missing '-' separator). {HOW_TO_GET}")
    try:
        digest = base36.decode(digest_text, 32)
        secret = base36.decode(secret_text, SECRET_BYTES)
    except ValueError as exc:
        raise TokenError(f"invalid join token: {exc}. {HOW_TO_GET}") from None
    return JoinToken(digest, secret)


def tokens_equal(a: JoinToken, b: JoinToken) -> bool:
    """Constant-time comparison of the whole token."""
    return hmac.compare_digest(a.root_digest + a.secret, b.root_digest + b.secret)


@dataclass(frozen=True)
class JoinTokens:
    """The cluster's current worker and manager tokens."""

    worker: JoinToken
    manager: JoinToken

    @classmethod
    def generate(cls, root_public_key: bytes) -> JoinTokens:
        return cls(new_token(root_public_key), new_token(root_public_key))

    def rotate(self, role: str) -> JoinTokens:
        if role == "worker":
            return JoinTokens(self.worker.rotated(), self.manager)
        if role == "manager":
            return JoinTokens(self.worker, self.manager.rotated())
        raise ValueError(f"unknown role {role!r}")

    def role_for(self, text: str) -> str:
        """The role a presented token grants; TokenError (what to do) if it grants none.

        Both tokens are always compared so the time taken does not reveal which one matched.
        """
        token = parse_token(text)
        if not hmac.compare_digest(token.root_digest, self.worker.root_digest):
            raise TokenError(
                "this join token belongs to another swarm: its cluster fingerprint does not "
                f"match this swarm's. {HOW_TO_GET}"
            )
        is_worker = tokens_equal(token, self.worker)
        is_manager = tokens_equal(token, self.manager)
        if is_manager:
            return "manager"
        if is_worker:
            return "worker"
        raise TokenError(
            "the join token is not valid: it may have been rotated or mistyped. "
            "Ask a manager for the current one with 'swarmlet swarm join-token worker' "
            "(or 'manager')."
        )
