"""ServiceSpec building from `service create/update` flags, as docker/cli builds it."""

import pytest

from swarmlet.cli import service_spec as specs
from swarmlet.cli.main import build_parser, main
from swarmlet.cli.opts import format_duration, parse_bytes, parse_duration, parse_nano_cpus


def create(*argv):
    args = build_parser().parse_args(["service", "create", *argv])
    return specs.build_service_spec(args)


def update(spec, *argv):
    args = build_parser().parse_args(["service", "update", *argv, "svc"])
    return specs.update_service_spec(spec, args)


def test_minimal_spec_has_dockers_defaults():
    spec = create("busybox")
    assert spec["Name"] == ""
    assert spec["Mode"] == {"Replicated": {}}
    assert spec["TaskTemplate"]["ContainerSpec"] == {"Image": "busybox"}
    assert spec["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "any",
        "Delay": 5_000_000_000,
        "MaxAttempts": 0,
    }
    assert spec["UpdateConfig"] == {
        "Parallelism": 1,
        "Delay": 0,
        "FailureAction": "pause",
        "Monitor": 5_000_000_000,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    }
    assert spec["RollbackConfig"] == spec["UpdateConfig"]
    assert spec["EndpointSpec"] == {"Mode": "vip", "Ports": []}


def test_name_replicas_command_and_args():
    spec = create("--name", "web", "--replicas", "3", "busybox", "sleep", "--", "600")
    assert spec["Name"] == "web"
    assert spec["Mode"] == {"Replicated": {"Replicas": 3}}
    assert spec["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "--", "600"]


def test_flags_after_the_image_belong_to_the_command():
    spec = create("busybox", "ls", "--replicas", "2")
    assert spec["TaskTemplate"]["ContainerSpec"]["Args"] == ["ls", "--replicas", "2"]
    assert spec["Mode"] == {"Replicated": {}}


def test_global_mode_and_replicas_conflict():
    assert create("--mode", "global", "busybox")["Mode"] == {"Global": {}}
    with pytest.raises(ValueError, match="replicas can only be used with replicated"):
        create("--mode", "global", "--replicas", "2", "busybox")


def test_jobs():
    assert create(
        "--mode", "replicated-job", "--replicas", "4", "--max-concurrent", "2", "busybox"
    )["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 4}}
    spec = create("--mode", "global-job", "busybox")
    assert spec["Mode"] == {"GlobalJob": {}}
    assert "UpdateConfig" not in spec


@pytest.mark.parametrize(
    "flag, ports",
    [
        (
            "80",
            [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 0, "PublishMode": "ingress"}],
        ),
        (
            "8080:80",
            [
                {
                    "Protocol": "tcp",
                    "TargetPort": 80,
                    "PublishedPort": 8080,
                    "PublishMode": "ingress",
                }
            ],
        ),
        (
            "53:53/udp",
            [{"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "ingress"}],
        ),
        (
            "8000-8001:80-81",
            [
                {
                    "Protocol": "tcp",
                    "TargetPort": 80,
                    "PublishedPort": 8000,
                    "PublishMode": "ingress",
                },
                {
                    "Protocol": "tcp",
                    "TargetPort": 81,
                    "PublishedPort": 8001,
                    "PublishMode": "ingress",
                },
            ],
        ),
        (
            "published=8080,target=80,protocol=udp,mode=host",
            [{"Protocol": "udp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}],
        ),
        ("target=80", [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress"}]),
    ],
)
def test_publish_syntaxes(flag, ports):
    assert create("-p", flag, "busybox")["EndpointSpec"]["Ports"] == ports


@pytest.mark.parametrize(
    "flag, message",
    [
        ("published=80", "missing mandatory field 'target'"),
        ("target=80,mode=bridge", "invalid publish mode value"),
        ("target=80,protocol=icmp", "invalid protocol value"),
        ("target=80,color=red", "invalid field key color"),
        ("target", None),
        ("1.2.3.4:80:80", "hostip is not supported"),
        ("x:80", "Invalid hostPort: x"),
        ("80/icmp", "Invalid proto: icmp"),
    ],
)
def test_publish_errors(flag, message):
    if message is None:
        with pytest.raises(ValueError):
            specs.parse_publish(flag)
        return
    with pytest.raises(ValueError, match=message):
        specs.parse_publish(flag)


def test_publish_error_is_a_flag_error(capsys):
    assert main(["service", "create", "-p", "published=80", "busybox"]) == 125
    err = capsys.readouterr().err
    assert err.startswith(
        'invalid argument "published=80" for "-p, --publish" flag: missing mandatory'
    )


def test_mounts():
    spec = create(
        "--mount",
        "type=bind,source=/srv,target=/data,readonly",
        "--mount",
        "type=volume,src=vol,dst=/v,volume-driver=local,volume-opt=o=1,volume-label=a=b,volume-nocopy",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=64M,tmpfs-mode=1770",
        "busybox",
    )
    assert spec["TaskTemplate"]["ContainerSpec"]["Mounts"] == [
        {"Type": "bind", "Source": "/srv", "Target": "/data", "ReadOnly": True},
        {
            "Type": "volume",
            "Source": "vol",
            "Target": "/v",
            "VolumeOptions": {
                "DriverConfig": {"Name": "local", "Options": {"o": "1"}},
                "Labels": {"a": "b"},
                "NoCopy": True,
            },
        },
        {
            "Type": "tmpfs",
            "Target": "/t",
            "TmpfsOptions": {"SizeBytes": 64 * 1024 * 1024, "Mode": 0o1770},
        },
    ]


@pytest.mark.parametrize(
    "flag, message",
    [
        ("type=bind,source=/a", "target is required"),
        ("type=nfs,target=/a", "invalid mount type"),
        ("type=bind,target=/a,color=red", "unexpected key 'color'"),
        (
            "type=tmpfs,target=/a,volume-nocopy",
            "cannot mix 'volume-\\*' options with mount type 'tmpfs'",
        ),
        ("type=bind,target=/a", "field Source must not be empty"),
        ("target", "invalid field 'target' must be a key=value pair"),
    ],
)
def test_mount_errors(flag, message):
    with pytest.raises(ValueError, match=message):
        specs.parse_mount(flag)


def test_env_labels_constraints_and_placement(monkeypatch):
    monkeypatch.setenv("FROM_HOST", "yes")
    spec = create(
        "-e", "A=1", "-e", "FROM_HOST", "-l", "tier=web", "-l", "flag",
        "--container-label", "c=d", "--constraint", "node.role==manager",
        "--constraint", "node.labels.zone!=b", "--placement-pref", "spread=node.labels.zone",
        "--replicas-max-per-node", "2", "busybox",
    )  # fmt: skip
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["Env"] == ["A=1", "FROM_HOST=yes"]
    assert cs["Labels"] == {"c": "d"}
    assert spec["Labels"] == {"tier": "web", "flag": ""}
    assert spec["TaskTemplate"]["Placement"] == {
        "Constraints": ["node.role==manager", "node.labels.zone!=b"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
        "MaxReplicas": 2,
    }


def test_env_file(tmp_path):
    f = tmp_path / "env"
    f.write_text("# comment\nX=1\n\nY=two words\n")
    assert create("--env-file", str(f), "-e", "Z=3", "busybox")["TaskTemplate"]["ContainerSpec"][
        "Env"
    ] == ["X=1", "Y=two words", "Z=3"]


def test_resources_with_dockers_units():
    spec = create(
        "--limit-cpu", "0.5", "--limit-memory", "512M", "--limit-pids", "100",
        "--reserve-cpu", "1.25", "--reserve-memory", "1g", "busybox",
    )  # fmt: skip
    assert spec["TaskTemplate"]["Resources"] == {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 512 * 1024**2, "Pids": 100},
        "Reservations": {"NanoCPUs": 1_250_000_000, "MemoryBytes": 1024**3},
    }


def test_restart_update_and_rollback_configs():
    spec = create(
        "--restart-condition", "on-failure", "--restart-delay", "2s", "--restart-max-attempts", "3",
        "--restart-window", "1m", "--update-parallelism", "2", "--update-delay", "10s",
        "--update-failure-action", "rollback", "--update-monitor", "500ms",
        "--update-max-failure-ratio", "0.2", "--update-order", "start-first",
        "--rollback-parallelism", "0", "--rollback-order", "start-first", "busybox",
    )  # fmt: skip
    assert spec["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 2_000_000_000,
        "MaxAttempts": 3,
        "Window": 60_000_000_000,
    }
    assert spec["UpdateConfig"] == {
        "Parallelism": 2,
        "Delay": 10_000_000_000,
        "FailureAction": "rollback",
        "Monitor": 500_000_000,
        "MaxFailureRatio": 0.2,
        "Order": "start-first",
    }
    assert spec["RollbackConfig"]["Parallelism"] == 0
    assert spec["RollbackConfig"]["Order"] == "start-first"
    assert spec["RollbackConfig"]["FailureAction"] == "pause"


def test_healthcheck_and_container_options():
    spec = create(
        "--health-cmd", "wget -q localhost", "--health-interval", "5s", "--health-retries", "2",
        "--stop-grace-period", "30s", "--init", "--read-only", "-t", "-w", "/w", "-u", "nobody",
        "--entrypoint", "/bin/sh -c", "--hostname", "h", "--network", "front",
        "--network", "name=back,alias=db", "--secret", "pw", "--config",
        "source=cfg,target=/etc/cfg,mode=0400", "--endpoint-mode", "dnsrr", "busybox",
    )  # fmt: skip
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["Healthcheck"] == {
        "Test": ["CMD-SHELL", "wget -q localhost"],
        "Interval": 5_000_000_000,
        "Retries": 2,
    }
    assert cs["StopGracePeriod"] == 30_000_000_000
    assert cs["Init"] is True and cs["ReadOnly"] is True and cs["TTY"] is True
    assert cs["Dir"] == "/w" and cs["User"] == "nobody" and cs["Hostname"] == "h"
    assert cs["Command"] == ["/bin/sh", "-c"]
    assert spec["TaskTemplate"]["Networks"] == [
        {"Target": "front"},
        {"Target": "back", "Aliases": ["db"]},
    ]
    assert cs["Secrets"] == [
        {
            "File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 0o444},
            "SecretID": "",
            "SecretName": "pw",
        }
    ]
    assert cs["Configs"][0]["File"] == {"Name": "/etc/cfg", "UID": "0", "GID": "0", "Mode": 0o400}
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"


def test_no_healthcheck_conflicts():
    assert create("--no-healthcheck", "busybox")["TaskTemplate"]["ContainerSpec"][
        "Healthcheck"
    ] == {"Test": ["NONE"]}
    with pytest.raises(ValueError, match="conflicts"):
        create("--no-healthcheck", "--health-cmd", "true", "busybox")


def test_update_applies_only_given_flags():
    base = create(
        "--name",
        "web",
        "--replicas",
        "2",
        "-e",
        "A=1",
        "-e",
        "B=2",
        "-p",
        "80:80",
        "-l",
        "x=1",
        "busybox",
    )
    new = update(
        base,
        "--image", "busybox:v2", "--replicas", "5", "--env-add", "C=3", "--env-rm", "A",
        "--env-add", "B=20", "--label-rm", "x", "--label-add", "y=2", "--publish-rm", "80",
        "--publish-add", "8080:8080", "--constraint-add", "node.role==worker",
        "--limit-memory", "256M", "--update-parallelism", "3", "--force",
    )  # fmt: skip
    cs = new["TaskTemplate"]["ContainerSpec"]
    assert cs["Image"] == "busybox:v2"
    assert cs["Env"] == ["C=3", "B=20"]
    assert new["Mode"] == {"Replicated": {"Replicas": 5}}
    assert new["Labels"] == {"y": "2"}
    assert [p["TargetPort"] for p in new["EndpointSpec"]["Ports"]] == [8080]
    assert new["TaskTemplate"]["Placement"]["Constraints"] == ["node.role==worker"]
    assert new["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"] == 256 * 1024**2
    assert new["UpdateConfig"]["Parallelism"] == 3
    assert new["UpdateConfig"]["Order"] == "stop-first"
    assert new["TaskTemplate"]["ForceUpdate"] == 1
    assert base["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox"  # input untouched


def test_update_replicas_of_global_service_is_refused():
    with pytest.raises(ValueError, match="replicas can only be used"):
        update(create("--mode", "global", "busybox"), "--replicas", "2")


def test_update_mounts_by_target():
    base = create("--mount", "type=tmpfs,target=/a", "--mount", "type=tmpfs,target=/b", "busybox")
    new = update(base, "--mount-rm", "/a", "--mount-add", "type=bind,source=/s,target=/c")
    assert [m["Target"] for m in new["TaskTemplate"]["ContainerSpec"]["Mounts"]] == ["/b", "/c"]


def test_scale_specifier():
    assert specs.parse_scale("web=3") == ("web", 3)
    with pytest.raises(ValueError, match="invalid scale specifier"):
        specs.parse_scale("web")
    with pytest.raises(ValueError, match="invalid replicas value"):
        specs.parse_scale("web=x")


@pytest.mark.parametrize(
    "text, ns",
    [
        ("0", 0),
        ("10s", 10**10),
        ("1m30s", 90 * 10**9),
        ("500ms", 5 * 10**8),
        ("1.5h", 5400 * 10**9),
        ("2us", 2000),
    ],
)
def test_go_durations(text, ns):
    assert parse_duration(text) == ns


def test_duration_errors():
    with pytest.raises(ValueError, match='missing unit in duration "10"'):
        parse_duration("10")
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("abc")


def test_format_duration_like_go():
    assert format_duration(0) == "0s"
    assert format_duration(90 * 10**9) == "1m30s"
    assert format_duration(5 * 10**8) == "500ms"
    assert format_duration(2160 * 3600 * 10**9) == "2160h0m0s"


@pytest.mark.parametrize(
    "text, size",
    [
        ("512M", 512 * 1024**2),
        ("1g", 1024**3),
        ("100", 100),
        ("1.5GiB", 1536 * 1024**2),
        ("64kb", 65536),
    ],
)
def test_byte_sizes(text, size):
    assert parse_bytes(text) == size


def test_cpus():
    assert parse_nano_cpus("0.5") == 500_000_000
    assert parse_nano_cpus("2") == 2_000_000_000
    with pytest.raises(ValueError, match="too precise"):
        parse_nano_cpus("0.0000000001")
    with pytest.raises(ValueError, match="rational number"):
        parse_nano_cpus("half")
