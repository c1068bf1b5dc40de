"""Root rotation's decisions: cross-signatures, which root a presented certificate is checked
against, the CA state a cluster object holds, when a node gets a new certificate, when the
rotation is done, and what a node keeps from a manager's answer."""

import base64

import pytest

from swarmlet.manager.ca import (
    ClusterCA,
    cert_lifetime,
    credentials_from_reply,
    finish_rotation,
    node_issuer,
    node_tls_info,
    rotation_pending,
    rotation_progress,
    rotation_requested,
    start_rotation,
)
from swarmlet.manager.context import rfc3339
from swarmlet.security.certs import (
    DEFAULT_CERT_LIFETIME,
    CertificateError,
    ClusterRoot,
    issuing_root,
    verify_certificate,
    vouches,
)
from swarmlet.security.identity import NodeIdentity
from swarmlet.security.tokens import parse_token
from swarmlet.store.objects import SWARMLET_KEY

NOW = 1_800_000_000.0
HOUR_NS = 3600 * 1_000_000_000


def cluster_with(root, expiry_ns=None, revoked=()):
    spec = {"CAConfig": {"NodeCertExpiry": expiry_ns}} if expiry_ns else {"CAConfig": {}}
    return {
        "ID": "c1",
        "Version": {"Index": 7},
        "Spec": spec,
        "JoinTokens": {},
        SWARMLET_KEY: {
            "RootKey": base64.b64encode(root.to_bytes()).decode(),
            "RootPublicKey": base64.b64encode(root.public_key).decode(),
            "RevokedNodes": list(revoked),
        },
    }


def rotating(cluster, next_root):
    out = dict(cluster)
    out[SWARMLET_KEY] = {**cluster[SWARMLET_KEY], **start_rotation(cluster, next_root)}
    return out


def node(node_id, state="ready", issuer=b""):
    tls = {"CertIssuerPublicKey": base64.b64encode(issuer).decode()} if issuer else {}
    return {"ID": node_id, "Status": {"State": state}, "Description": {"TLSInfo": tls}}


def test_cross_signature_vouches_only_for_the_signed_root():
    old, new, other = ClusterRoot.generate(), ClusterRoot.generate(), ClusterRoot.generate()
    xsig = old.cross_sign(new.public_key)
    assert vouches(old.public_key, new.public_key, xsig)
    assert not vouches(old.public_key, other.public_key, xsig)
    assert not vouches(other.public_key, new.public_key, xsig)
    # a cross-signature is not a certificate signature: different label
    assert not vouches(old.public_key, new.public_key, old.signing_key.sign(new.public_key)[:64])


def test_issuing_root_trusts_directly_or_through_a_vouching_root():
    old, new, other = ClusterRoot.generate(), ClusterRoot.generate(), ClusterRoot.generate()
    xsig = old.cross_sign(new.public_key)
    assert issuing_root(old.public_key, None, None, [old.public_key]) == old.public_key
    # mid-rotation certificate, verifier that trusts only the old root
    assert issuing_root(old.public_key, new.public_key, xsig, [old.public_key]) == new.public_key
    # a verifier that has finished the rotation trusts the new root itself
    assert issuing_root(old.public_key, new.public_key, xsig, [new.public_key]) == new.public_key
    with pytest.raises(CertificateError, match="not signed by this cluster's root"):
        issuing_root(old.public_key, None, None, [new.public_key])  # old root dropped
    with pytest.raises(CertificateError):
        issuing_root(old.public_key, other.public_key, xsig, [old.public_key])  # forged issuer
    with pytest.raises(CertificateError):
        issuing_root(other.public_key, new.public_key, xsig, [old.public_key])


def test_cluster_ca_signs_with_the_next_root_during_a_rotation():
    old, new = ClusterRoot.generate(), ClusterRoot.generate()
    ident = NodeIdentity.generate()
    plain = ClusterCA.from_cluster(cluster_with(old))
    assert not plain.rotating and plain.trusted == (old.public_key,)
    held = plain.issue(ident.node_id, "worker", ident.public_key, NOW)
    assert plain.issuer_of(held, NOW) == old.public_key
    assert not plain.needs_certificate(held, NOW, renew=False)
    assert plain.needs_certificate(held, NOW, renew=True)  # renewal due

    ca = ClusterCA.from_cluster(rotating(cluster_with(old), new))
    assert ca.rotating and ca.trusted == (old.public_key, new.public_key)
    assert ca.needs_certificate(held, NOW, renew=False)  # still on the old root
    fresh = ca.issue(ident.node_id, "worker", ident.public_key, NOW)
    assert ca.issuer_of(fresh, NOW) == new.public_key
    assert not ca.needs_certificate(fresh, NOW, renew=False)
    trust = ca.trust()
    assert trust["root"] == old.public_key and trust["next"] == new.public_key
    assert vouches(old.public_key, new.public_key, trust["xsig"])


def test_revoked_node_gets_no_certificate():
    root = ClusterRoot.generate()
    ident = NodeIdentity.generate()
    cert = root.issue(ident.node_id, "worker", ident.public_key, NOW)
    ca = ClusterCA.from_cluster(cluster_with(root, revoked=[ident.node_id]))
    assert not ca.needs_certificate(cert, NOW, renew=True)


def test_certificates_issued_after_cert_expiry_update_use_it():
    root = ClusterRoot.generate()
    ident = NodeIdentity.generate()
    assert cert_lifetime(None) == DEFAULT_CERT_LIFETIME
    ca = ClusterCA.from_cluster(cluster_with(root, expiry_ns=3 * HOUR_NS))
    cert = ca.issue(ident.node_id, "worker", ident.public_key, NOW)
    assert cert.not_after == int(NOW + 3 * 3600)
    info = node_tls_info(cert, root.public_key, rfc3339)
    assert info["CertNotAfter"] == rfc3339(cert.not_after)
    assert info["CertIssuerPublicKey"] == base64.b64encode(root.public_key).decode()
    assert info["TrustRoot"].startswith("-----BEGIN SWARMLET ROOT PUBLIC KEY-----")


def test_rotation_requested_by_a_changed_force_rotate_counter():
    assert not rotation_requested({"CAConfig": {}}, {"CAConfig": {}})
    assert rotation_requested({"CAConfig": {}}, {"CAConfig": {"ForceRotate": 1}})
    assert not rotation_requested(
        {"CAConfig": {"ForceRotate": 2}}, {"CAConfig": {"ForceRotate": 2}}
    )
    with pytest.raises(ValueError, match="ForceRotate"):
        rotation_requested({}, {"CAConfig": {"ForceRotate": -1}})


def test_rotation_waits_for_every_live_node_then_regenerates_the_tokens():
    old, new = ClusterRoot.generate(), ClusterRoot.generate()
    cluster = rotating(cluster_with(old, revoked=["gone"]), new)
    nodes = [
        node("a", issuer=new.public_key),
        node("b", issuer=old.public_key),
        node("c", state="unknown"),  # just joined, has not reported yet
        node("d", state="down", issuer=old.public_key),  # down nodes do not hold it up
        node("gone", issuer=old.public_key),
    ]
    assert rotation_pending(cluster, nodes) == ["b", "c"]
    assert rotation_progress(cluster, nodes) == (2, 4)
    nodes[1] = node("b", issuer=new.public_key)
    nodes[2] = node("c", issuer=new.public_key)
    assert rotation_pending(cluster, nodes) == []
    fields, tokens = finish_rotation(cluster)
    done = dict(cluster)
    done[SWARMLET_KEY] = {**cluster[SWARMLET_KEY], **fields}
    ca = ClusterCA.from_cluster(done)
    assert ca.root.public_key == new.public_key and not ca.rotating
    for text in tokens.values():
        assert parse_token(text).matches_root(new.public_key)
    assert tokens["Worker"] != tokens["Manager"]
    assert node_issuer(nodes[0]) == new.public_key
    with pytest.raises(ValueError):
        finish_rotation(done)


def test_node_adopts_a_new_root_certificate_with_its_cross_signature():
    old, new = ClusterRoot.generate(), ClusterRoot.generate()
    ident = NodeIdentity.generate()
    held = old.issue(ident.node_id, "worker", ident.public_key, NOW)
    ca = ClusterCA.from_cluster(rotating(cluster_with(old), new))
    fresh = ca.issue(ident.node_id, "worker", ident.public_key, NOW)
    got = credentials_from_reply({**ca.trust(), "cert": fresh.to_bytes()}, held)
    assert got.certificate == fresh and got.root == old.public_key
    assert got.extra_roots == (new.public_key,) and got.issuer == new.public_key
    assert vouches(old.public_key, new.public_key, got.cross_signature)
    # the trust alone, no new certificate: the node keeps its old-root one and trusts both
    got = credentials_from_reply(ca.trust(), held)
    assert got.certificate == held and got.issuer is None and got.extra_roots == (new.public_key,)
    # rotation done: only the new root
    finished = {"root": new.public_key, "next": b"", "xsig": b""}
    got = credentials_from_reply(finished, fresh)
    assert got.extra_roots == () and got.issuer is None
    verify_certificate(got.certificate, got.root, NOW)


def test_node_refuses_an_answer_that_does_not_fit():
    old, new = ClusterRoot.generate(), ClusterRoot.generate()
    ident, other = NodeIdentity.generate(), NodeIdentity.generate()
    held = old.issue(ident.node_id, "worker", ident.public_key, NOW)
    finished = {"root": new.public_key, "next": b"", "xsig": b""}
    with pytest.raises(CertificateError, match="not signed by the roots"):
        credentials_from_reply(finished, held)  # would lock the node out
    foreign = new.issue(other.node_id, "worker", other.public_key, NOW)
    with pytest.raises(CertificateError, match="another node"):
        credentials_from_reply({**finished, "cert": foreign.to_bytes()}, held)
    forged = {"root": old.public_key, "next": new.public_key, "xsig": bytes(64)}
    fresh = new.issue(ident.node_id, "worker", ident.public_key, NOW)
    with pytest.raises(CertificateError):
        credentials_from_reply({**forged, "cert": fresh.to_bytes()}, held)
    with pytest.raises(CertificateError, match="no valid root"):
        credentials_from_reply({"root": b"short"}, held)


def test_nodes_behind_a_rotation_need_rotation():
    from swarmlet.manager.ca import needs_rotation

    old, new = ClusterRoot.generate(), ClusterRoot.generate()
    plain = cluster_with(old)
    assert not needs_rotation(plain, node("a", issuer=old.public_key))
    cluster = rotating(plain, new)
    assert needs_rotation(cluster, node("a", issuer=old.public_key))
    assert needs_rotation(cluster, node("b"))
    assert not needs_rotation(cluster, node("c", issuer=new.public_key))


def test_manager_takes_a_reported_certificate_only_for_the_peers_own_key():
    from swarmlet.node.swarm import _held_certificate, _init_cert_lifetime
    from swarmlet.wire.session import PeerInfo

    root = ClusterRoot.generate()
    ident, other = NodeIdentity.generate(), NodeIdentity.generate()
    session_cert = root.issue(ident.node_id, "worker", ident.public_key, NOW)
    peer = PeerInfo(ident.node_id, "worker", session_cert, "198.18.0.2:1")
    renewed = root.issue(ident.node_id, "worker", ident.public_key, NOW + 60)
    assert _held_certificate(peer, {"cert": renewed.to_bytes()}) == renewed
    foreign = root.issue(other.node_id, "worker", other.public_key, NOW)
    assert _held_certificate(peer, {"cert": foreign.to_bytes()}) == session_cert
    assert _held_certificate(peer, {"cert": b"garbage"}) == session_cert
    assert _held_certificate(peer, {}) == session_cert
    assert _init_cert_lifetime({"CAConfig": {"NodeCertExpiry": 3 * HOUR_NS}}) == 3 * 3600
    assert _init_cert_lifetime(None) == DEFAULT_CERT_LIFETIME
