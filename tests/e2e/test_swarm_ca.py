"""Root CA rotation on real hosts: `swarm ca --rotate` on a swarm of two managers and a
worker re-issues every node's certificate under a new root while the swarm keeps working,
then regenerates the join tokens so that the old ones are refused; certificates issued after
`swarm update --cert-expiry` carry the new validity."""

import calendar
import json
import os
import time

import pytest

from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e

LAB_NODES = 4  # node4 stays outside the swarm until it joins with the new token


@pytest.fixture(scope="module")
def swarm(lab):
    lab.form_swarm({"node2": "manager", "node3": "worker"})
    lab.start("node4")  # outside the swarm until it joins with the new token
    eventually(lambda: sw(lab, "node", "ls").count("Ready") == 3)
    return lab


def sw(lab, *args, host="node1", check=True):
    res = lab.swarmlet(host, *args, check=check)
    return res.stdout if check else res


def tls_info(lab, node):
    out = sw(lab, "node", "inspect", node, "--format", "{{json .Description.TLSInfo}}")
    return json.loads(out)


def containers(lab):
    """The service's running containers, by host."""
    label = "label=com.docker.swarm.service.name=web"
    return {
        h: sorted(lab.docker(h, "ps", "-q", "--filter", label).stdout.split()) for h in lab.hosts
    }


def epoch(rfc3339: str) -> float:
    return calendar.timegm(time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S"))


def test_ca_rotate_reissues_every_certificate_and_replaces_the_tokens(swarm):
    lab = swarm
    remote = f"{lab.addr('node1')}:2377"
    sw(lab, "service", "create", "-d", "--name", "web", "--replicas", "3", "--init",
       "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: "3/3" in sw(lab, "service", "ls"))
    before = json.loads(sw(lab, "swarm", "inspect"))[0]
    old_worker_token = before["JoinTokens"]["Worker"]
    old_root = before["TLSInfo"]["CertIssuerPublicKey"]
    assert sw(lab, "swarm", "ca").strip() == before["TLSInfo"]["TrustRoot"].strip()

    tasks_before = containers(lab)
    sw(lab, "swarm", "update", "--cert-expiry", "3h")
    started = time.time()
    out = lab.swarmlet("node1", "swarm", "ca", "--rotate", timeout=120).stdout
    assert "rotated TLS certificates" in out and "3/3 nodes" in out

    after = json.loads(sw(lab, "swarm", "inspect"))[0]
    new_root = after["TLSInfo"]["CertIssuerPublicKey"]
    assert new_root != old_root and not after["RootRotationInProgress"]
    assert after["TLSInfo"]["TrustRoot"].strip() in out  # the new root is printed
    for node in ("node1", "node2", "node3"):
        info = tls_info(lab, node)
        assert info["CertIssuerPublicKey"] == new_root, node
        # issued after `--cert-expiry 3h`: valid for 3 hours, not the default 90 days
        assert epoch(info["CertNotAfter"]) - started < 3 * 3600 + 120, info

    eventually(lambda: sw(lab, "node", "ls").count("Ready") == 3)
    assert containers(lab) == tasks_before  # no task was stopped or moved by the rotation
    # raft between the managers, the worker's dispatcher session: all still working
    sw(lab, "node", "update", "--label-add", "rotated=yes", "node3", host="node2")
    sw(lab, "service", "scale", "-d", "web=5")
    eventually(lambda: "5/5" in sw(lab, "service", "ls"))
    ps = sw(lab, "service", "ps", "web", "--format", "{{.Node}} {{.CurrentState}}")
    assert "node3 Running" in ps  # the worker still takes tasks

    new_worker_token = after["JoinTokens"]["Worker"]
    assert new_worker_token[:60] != old_worker_token[:60]  # the digest of the new root
    refused = lab.swarmlet("node4", "swarm", "join", "--token", old_worker_token, remote,
                           check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "fingerprint" in refused.stderr and "root CA" in refused.stderr, refused.stderr
    out = sw(lab, "swarm", "join", "--token", new_worker_token, remote, host="node4")
    assert "joined a swarm as a worker" in out
    eventually(lambda: sw(lab, "node", "ls").count("Ready") == 4)
    joined = eventually(
        lambda: tls_info(lab, "node4").get("CertNotAfter") and tls_info(lab, "node4")
    )
    assert joined["CertIssuerPublicKey"] == new_root
    assert epoch(joined["CertNotAfter"]) - started < 3 * 3600 + 300  # joined after the update


def test_ca_without_rotate_refuses_ca_flags(swarm):
    res = sw(swarm, "swarm", "ca", "--cert-expiry", "2h", check=False)
    assert res.returncode != 0 and "requires the `--rotate` flag" in res.stderr


def test_rotate_again_detached_and_quiet(swarm):
    lab = swarm
    nodes = [h for h in lab.hosts if h in sw(lab, "node", "ls")]
    first = json.loads(sw(lab, "swarm", "inspect"))[0]["TLSInfo"]["CertIssuerPublicKey"]
    assert sw(lab, "swarm", "ca", "--rotate", "-d") == ""  # returns at once

    def rotated():
        swarm = json.loads(sw(lab, "swarm", "inspect"))[0]
        return not swarm["RootRotationInProgress"] and swarm["TLSInfo"]["CertIssuerPublicKey"]

    # the swarm takes writes through the other manager while the rotation runs
    sw(lab, "node", "update", "--label-add", "during=yes", "node3", host="node2")
    second = eventually(rotated)
    assert second != first
    assert lab.swarmlet("node1", "swarm", "ca", "--rotate", "-q", timeout=120).stdout == ""
    third = json.loads(sw(lab, "swarm", "inspect"))[0]["TLSInfo"]["CertIssuerPublicKey"]
    assert third not in (first, second)
    for node in nodes:  # every node, the one that joined after the first rotation too
        assert tls_info(lab, node)["CertIssuerPublicKey"] == third, node
    eventually(lambda: sw(lab, "node", "ls").count("Ready") == len(nodes))
    # a restarted worker comes back with the credentials it saved
    lab.kill("node3")
    lab.start("node3")
    eventually(lambda: "Swarm: active" in lab.swarmlet("node3", "info").stdout)
    sw(lab, "node", "update", "--label-add", "restarted=yes", "node3")
    sw(lab, "service", "scale", "-d", "web=8")
    eventually(lambda: "8/8" in sw(lab, "service", "ls"))


def test_rotation_does_not_wait_for_a_down_node_which_then_stays_out(swarm):
    lab = swarm
    lab.kill("node4")
    eventually(lambda: "Down" in sw(lab, "node", "ls", "--filter", "name=node4"))
    lab.swarmlet("node1", "swarm", "ca", "--rotate", "-q", timeout=120)
    root = json.loads(sw(lab, "swarm", "inspect"))[0]["TLSInfo"]["CertIssuerPublicKey"]
    assert tls_info(lab, "node4")["CertIssuerPublicKey"] != root
    lab.start("node4")  # back with a certificate of a root nobody trusts any more
    log = os.path.join(lab.host("node4").swarmlet_data_dir, "swarmlet.log")

    def refused():
        with open(log, encoding="utf-8", errors="replace") as f:
            return "not signed by this cluster's root" in f.read()

    eventually(refused)
    assert "Down" in sw(lab, "node", "ls", "--filter", "name=node4")
    sw(lab, "node", "rm", "node4")  # the operator's way out: remove it, it joins again
