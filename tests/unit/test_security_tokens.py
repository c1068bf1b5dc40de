"""Join tokens: Docker's format, parsing, tampering, rotation, roles."""

import hashlib

import nacl.utils
import pytest

from swarmlet.security.certs import ClusterRoot
from swarmlet.security.tokens import (
    TOKEN_LENGTH,
    JoinTokens,
    TokenError,
    new_token,
    parse_token,
    tokens_equal,
)

B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36_reference(n: int) -> str:
    """Go's big.Int.Text(36), written independently of swarmlet.security.base36."""
    s = ""
    while n:
        s = B36[n % 36] + s
        n //= 36
    return s or "0"


def reference_token(root_pub: bytes, secret: bytes) -> str:
    digest = int.from_bytes(hashlib.sha256(root_pub).digest(), "big")
    rand = int.from_bytes(secret, "big")
    return f"SWMTKN-1-{base36_reference(digest):0>50}-{base36_reference(rand):0>25}"


def test_round_trip():
    root = ClusterRoot.generate()
    tok = new_token(root.public_key)
    text = str(tok)
    assert len(text) == TOKEN_LENGTH == 85
    assert parse_token(text) == tok
    assert tok.matches_root(root.public_key)
    assert not tok.matches_root(ClusterRoot.generate().public_key)
    assert "secret=<hidden>" in repr(tok)


@pytest.mark.parametrize("secret", [bytes(16), b"\xff" * 16, nacl.utils.random(16)])
def test_reference_formula_parses(secret):
    root = ClusterRoot.generate()
    text = reference_token(root.public_key, secret)
    tok = parse_token(text)
    assert tok.secret == secret
    assert tok.root_digest == hashlib.sha256(root.public_key).digest()
    assert str(tok) == text


def tampered_variants(text):
    yield "prefix", "SWMTKN-2-" + text[9:]
    yield "prefix-case", "swmtkn-1-" + text[9:]
    yield "short", text[:-1]
    yield "long", text + "0"
    yield "separator", text[:59] + "x" + text[60:]
    yield "digest-char", text[:20] + "!" + text[21:]
    yield "digest-upper", text[:9] + text[9:59].upper() + text[59:]
    yield "digest-overflow", text[:9] + "z" * 50 + text[59:]
    yield "secret-overflow", text[:60] + "z" * 25
    yield "secret-char", text[:70] + "_" + text[71:]


def test_tampered_formats_refused():
    text = str(new_token(ClusterRoot.generate().public_key))
    for name, bad in tampered_variants(text):
        with pytest.raises(TokenError, match="join-token"):
            parse_token(bad)
        assert name


def _flip(text, index):
    c = text[index]
    return text[:index] + ("1" if c != "1" else "2") + text[index + 1 :]


def test_roles_rotation_and_tampered_values_refused():
    root = ClusterRoot.generate()
    tokens = JoinTokens.generate(root.public_key)
    w, m = str(tokens.worker), str(tokens.manager)
    assert tokens.role_for(w) == "worker"
    assert tokens.role_for(m) == "manager"
    with pytest.raises(TokenError, match="another swarm"):
        tokens.role_for(_flip(w, 30))  # digest changed
    with pytest.raises(TokenError, match="rotated"):
        tokens.role_for(_flip(w, 80))  # secret changed
    other = JoinTokens.generate(ClusterRoot.generate().public_key)
    with pytest.raises(TokenError, match="another swarm"):
        tokens.role_for(str(other.worker))
    rotated = tokens.rotate("worker")
    assert rotated.manager == tokens.manager
    assert rotated.worker.root_digest == tokens.worker.root_digest
    with pytest.raises(TokenError, match="rotated"):
        rotated.role_for(w)
    assert rotated.role_for(str(rotated.worker)) == "worker"
    assert tokens_equal(tokens.worker, parse_token(w))
    assert not tokens_equal(tokens.worker, tokens.manager)
