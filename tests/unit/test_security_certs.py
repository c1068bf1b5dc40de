"""Identity files, certificates, verification, renewal, revocation."""

import os
import random
import stat

import pytest

from swarmlet.security.certs import (
    DEFAULT_CERT_LIFETIME,
    Certificate,
    CertificateError,
    ClusterRoot,
    RevocationSet,
    renewal_due,
    renewal_time,
    verify_certificate,
)
from swarmlet.security.identity import (
    IDENTITY_FILE,
    NodeIdentity,
    is_node_id,
    load_or_create_identity,
)

NOW = 1_800_000_000.0


def test_identity_created_once_with_private_mode(tmp_path):
    ident = load_or_create_identity(tmp_path)
    path = tmp_path / IDENTITY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert is_node_id(ident.node_id) and len(ident.node_id) == 25
    assert ident.node_id == ident.node_id.lower()
    again = load_or_create_identity(tmp_path)
    assert again.node_id == ident.node_id and again.public_key == ident.public_key


def test_root_round_trip():
    root = ClusterRoot.generate()
    assert ClusterRoot.from_bytes(root.to_bytes()).public_key == root.public_key
    with pytest.raises(ValueError):
        ClusterRoot.from_bytes(b"short")


def test_certificate_round_trip_and_verify():
    root = ClusterRoot.generate()
    node = NodeIdentity.generate()
    cert = root.issue(node.node_id, "worker", node.public_key, NOW)
    assert cert.not_before < NOW  # backdated for clock skew
    assert cert.not_after == int(NOW + DEFAULT_CERT_LIFETIME)
    parsed = Certificate.from_bytes(cert.to_bytes())
    assert parsed == cert
    assert verify_certificate(parsed, root.public_key, NOW) == cert


def test_certificate_refusals():
    root = ClusterRoot.generate()
    node = NodeIdentity.generate()
    cert = root.issue(node.node_id, "worker", node.public_key, NOW, lifetime=3600)
    with pytest.raises(CertificateError, match="not signed"):
        verify_certificate(cert, ClusterRoot.generate().public_key, NOW)
    with pytest.raises(CertificateError, match="expired"):
        verify_certificate(cert, root.public_key, NOW + 3600)
    with pytest.raises(CertificateError, match="not valid yet"):
        verify_certificate(cert, root.public_key, NOW - 3600)
    revoked = RevocationSet()
    revoked.revoke(node.node_id)
    with pytest.raises(CertificateError, match="removed"):
        verify_certificate(cert, root.public_key, NOW, revoked)
    with pytest.raises(CertificateError, match="needs a manager"):
        verify_certificate(cert, root.public_key, NOW, roles={"manager"})
    forged = Certificate(
        cert.node_id, "manager", cert.pubkey, cert.not_before, cert.not_after, cert.signature
    )
    with pytest.raises(CertificateError, match="not signed"):
        verify_certificate(forged, root.public_key, NOW)
    for bad in (b"", b"\xa0", cert.to_bytes()[:-1], cert.to_bytes() + b"\x00", b"\x82\x40\x40"):
        with pytest.raises(CertificateError, match="malformed"):
            Certificate.from_bytes(bad)


def test_renewal_window():
    root = ClusterRoot.generate()
    node = NodeIdentity.generate()
    cert = root.issue(node.node_id, "manager", node.public_key, NOW)
    rng = random.Random(7)
    times = [renewal_time(cert, rng) for _ in range(200)]
    lo = cert.not_before + 0.5 * cert.lifetime
    hi = cert.not_before + 0.8 * cert.lifetime
    assert all(lo <= t <= hi for t in times)
    assert max(times) - min(times) > 0.2 * cert.lifetime  # spread, not one instant
    assert not renewal_due(cert, lo - 1, rng)
    assert renewal_due(cert, hi + 1, rng)


def test_membership_files(tmp_path):
    from swarmlet.security.node_files import forget_membership, load_membership, save_membership

    root = ClusterRoot.generate()
    node = load_or_create_identity(tmp_path)
    assert load_membership(tmp_path) is None
    cert = root.issue(node.node_id, "worker", node.public_key, NOW)
    save_membership(tmp_path, cert, root.public_key)
    assert load_membership(tmp_path) == (cert, root.public_key)
    for f in tmp_path.iterdir():
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    forget_membership(tmp_path)
    assert load_membership(tmp_path) is None
    assert load_or_create_identity(tmp_path).node_id == node.node_id
