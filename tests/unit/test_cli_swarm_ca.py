"""`swarm ca`: what it sends, its flag checks, and its progress report (pure helpers)."""

from swarmlet.cli.main import main
from swarmlet.cli.swarm import progress_line, rotation_counts

from .test_cli_requests import daemon  # noqa: F401  (the recording daemon fixture)


def node(state, issuer):
    return {"Status": {"State": state}, "Description": {"TLSInfo": {"CertIssuerPublicKey": issuer}}}


def test_rotation_counts_live_nodes_off_the_old_root():
    nodes = [node("ready", "new"), node("ready", "old"), node("down", "old"), node("ready", "")]
    assert rotation_counts(nodes, "old") == (1, 3)


def test_progress_line():
    assert progress_line(0, 3, width=10) == "rotated TLS certificates:  [          ] 0/3 nodes"
    assert progress_line(2, 4, width=10) == "rotated TLS certificates:  [====>     ] 2/4 nodes"
    assert progress_line(3, 3, width=10) == "rotated TLS certificates:  [=========>] 3/3 nodes"


def test_ca_flags_need_rotate(capsys):
    assert main(["swarm", "ca", "--cert-expiry", "2h"]) != 0
    assert "`--cert-expiry` flag requires the `--rotate` flag" in capsys.readouterr().err


def test_ca_rotate_detached_bumps_force_rotate(daemon, capsys):  # noqa: F811
    assert main(["swarm", "ca", "--rotate", "-d", "--cert-expiry", "3h"]) == 0
    update = [(q, b) for m, p, q, b in daemon if p == "/swarm/update"][0]
    assert update[0] == {"version": "7"}
    assert update[1]["CAConfig"] == {"NodeCertExpiry": 3 * 3600 * 10**9, "ForceRotate": 1}
    assert capsys.readouterr().out == ""


def test_node_inspect_pretty_shows_the_certificate():
    from swarmlet.cli.node import pretty_node

    tls = {
        "TrustRoot": "-----BEGIN SWARMLET ROOT PUBLIC KEY-----\nQUJD\n-----END SWARMLET ROOT PUBLIC KEY-----\n",
        "CertIssuerSubject": "Q049c3dhcm0tY2E=",
        "CertIssuerPublicKey": "QUJD",
        "CertNotAfter": "2026-11-28T01:00:00.000000000Z",
    }
    out = pretty_node({"ID": "n1", "Description": {"TLSInfo": tls}})
    assert "TLS Info:\n TrustRoot:\n-----BEGIN SWARMLET ROOT PUBLIC KEY-----\n" in out
    assert " Issuer Public Key:     QUJD\n" in out
    assert " Certificate Expiry:    2026-11-28T01:00:00.000000000Z\n" in out
