import copy
import json

import pytest

from swarmlet.manager import controlapi
from swarmlet.manager.specs import service as service_specs
from swarmlet.store import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfSequence,
    Store,
    commands,
    objects,
)

NOW = "2026-11-27T18:00:00.000000000Z"
LATER = "2026-11-27T18:05:00.000000000Z"


def spec(**overrides) -> dict:
    base = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox:latest"}}}
    base.update(overrides)
    return base


def with_container(**fields) -> dict:
    s = spec()
    s["TaskTemplate"]["ContainerSpec"].update(fields)
    return s


def with_template(**fields) -> dict:
    s = spec()
    s["TaskTemplate"].update(fields)
    return s


def run(store: Store, command: dict):
    return store.apply(store.applied_index + 1, commands.encode(command)).unwrap()


def test_default_service_matches_what_docker_inspect_shows():
    obj = controlapi.create_service(spec(), NOW, "svc1")["object"]
    assert obj["Spec"] == {
        "Name": "web",
        "Labels": {},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox:latest",
                "Init": False,
                "StopGracePeriod": 10_000_000_000,
                "DNSConfig": {},
                "Isolation": "default",
            },
            "Resources": {"Limits": {}, "Reservations": {}},
            "RestartPolicy": {"Condition": "any", "Delay": 5_000_000_000, "MaxAttempts": 0},
            "Placement": {},
            "ForceUpdate": 0,
            "Runtime": "container",
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "UpdateConfig": {
            "Parallelism": 1,
            "FailureAction": "pause",
            "Monitor": 5_000_000_000,
            "MaxFailureRatio": 0,
            "Order": "stop-first",
        },
        "RollbackConfig": {
            "Parallelism": 1,
            "FailureAction": "pause",
            "Monitor": 5_000_000_000,
            "MaxFailureRatio": 0,
            "Order": "stop-first",
        },
        "EndpointSpec": {"Mode": "vip"},
    }
    # Docker's field order, so JSON output reads like docker's.
    assert list(obj) == ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Endpoint"]
    assert list(obj["Spec"]) == [
        "Name",
        "Labels",
        "TaskTemplate",
        "Mode",
        "UpdateConfig",
        "RollbackConfig",
        "EndpointSpec",
    ]
    assert obj["Endpoint"] == {"Spec": {}}
    assert obj["CreatedAt"] == obj["UpdatedAt"] == NOW


def test_given_values_are_kept_and_field_order_survives_the_store():
    s = with_container(Env=["A=1"], Args=["sleep", "1"], Init=True)
    s["Mode"] = {"Replicated": {"Replicas": 3}}
    s["TaskTemplate"]["RestartPolicy"] = {"Condition": "on-failure", "MaxAttempts": 2}
    store = Store()
    created = run(store, controlapi.create_service(s, NOW, "svc1"))
    assert created["Spec"]["TaskTemplate"]["ContainerSpec"]["Init"] is True
    assert created["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
    assert created["Spec"]["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 5_000_000_000,
        "MaxAttempts": 2,
    }
    restored = Store()
    restored.restore(store.snapshot())
    assert json.dumps(restored.get("service", "svc1")) == json.dumps(created)


def test_a_service_without_a_name_takes_the_generated_one():
    import random

    from swarmlet.manager.specs.names import random_name

    name = random_name(random.Random(1))
    obj = controlapi.create_service(spec(Name=""), NOW, "s1", name=name)["object"]
    assert obj["Spec"]["Name"] == name and "_" in name


def test_jobs_get_job_defaults_and_status():
    s = spec(Mode={"ReplicatedJob": {"MaxConcurrent": 2}})
    obj = controlapi.create_service(s, NOW, "j1")["object"]
    assert obj["Spec"]["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}}
    assert obj["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "on-failure"
    assert obj["JobStatus"] == {"JobIteration": {"Index": 0}, "LastExecution": NOW}
    assert "UpdateConfig" not in obj["Spec"]
    g = controlapi.create_service(spec(Mode={"GlobalJob": {}}), NOW, "j2")["object"]
    assert g["Spec"]["Mode"] == {"GlobalJob": {}}


BAD_SPECS = [
    (spec(Name="bad name"), "name must be valid as a DNS name component"),
    (spec(Name="-x"), "name must be valid as a DNS name component"),
    (spec(Name="a" * 64), "name must be 63 characters or fewer"),
    (spec(Name=""), "meta: name must be provided"),
    (spec(Labels={"a": 1}), "invalid label value"),
    (spec(Labels=["x"]), "Labels must be a map of strings"),
    ({"Name": "web"}, "ContainerSpec: missing in service spec"),
    (with_container(Image=""), "ContainerSpec: image reference must be provided"),
    (with_container(Image="Busybox"), 'ContainerSpec: "Busybox" is not a valid repository/tag'),
    (with_container(Image="a b"), "is not a valid repository/tag"),
    (spec(Mode={"Replicated": {"Replicas": -1}}), "invalid replicas value -1"),
    (spec(Mode={"Replicated": {"Replicas": "3"}}), "invalid replicas value '3'"),
    (
        spec(Mode={"Replicated": {}, "Global": {}}),
        "cannot specify both replicated mode and global mode",
    ),
    (spec(Mode={"Global": {}, "GlobalJob": {}}), "only one of"),
    (spec(Mode={}), "one of Replicated, Global, ReplicatedJob, GlobalJob is required"),
    (spec(Mode={"ReplicatedJob": {"MaxConcurrent": -1}}), "MaxConcurrent"),
    (
        with_container(Mounts=[{"Type": "bind", "Source": "rel", "Target": "/x"}]),
        "invalid bind mount source, must be an absolute path: rel",
    ),
    (
        with_container(Mounts=[{"Type": "bind", "Source": "/a", "Target": "x"}]),
        "invalid mount target, must be an absolute path: x",
    ),
    (
        with_container(Mounts=[{"Type": "volume", "Source": "/abs", "Target": "/x"}]),
        "invalid volume mount source, must not be an absolute path: /abs",
    ),
    (
        with_container(Mounts=[{"Type": "volume", "Source": "bad name", "Target": "/x"}]),
        "includes invalid characters for a local volume name",
    ),
    (
        with_container(Mounts=[{"Type": "tmpfs", "Source": "x", "Target": "/x"}]),
        "invalid tmpfs source, source must be empty",
    ),
    (
        with_container(
            Mounts=[{"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"SizeBytes": -1}}]
        ),
        "SizeBytes",
    ),
    (
        with_container(
            Mounts=[{"Type": "tmpfs", "Target": "/x", "BindOptions": {"Propagation": "shared"}}]
        ),
        'invalid mount config for type "tmpfs": field BindOptions must not be specified',
    ),
    (with_container(Mounts=[{"Type": "nfs", "Target": "/x"}]), "invalid mount type: nfs"),
    (
        with_container(
            Mounts=[{"Type": "tmpfs", "Target": "/x"}, {"Type": "tmpfs", "Target": "/x/"}]
        ),
        "ContainerSpec: duplicate mount point: /x/",
    ),
    (with_container(Env="A=1"), "ContainerSpec.Env must be a list of strings"),
    (with_container(Env=["=x"]), "invalid environment variable"),
    (with_container(StopGracePeriod=-1), "StopGracePeriod cannot be negative"),
    (with_container(Init="yes"), "ContainerSpec.Init must be a boolean"),
    (with_container(Healthcheck={"Test": ["BOGUS"]}), "must start with NONE, CMD or CMD-SHELL"),
    (
        with_container(Healthcheck={"Test": ["CMD", "true"], "Interval": 10}),
        "Interval in Healthcheck cannot be less than 1ms",
    ),
    (with_container(Healthcheck={"Retries": -1}), "Retries in Healthcheck cannot be negative"),
    (spec(EndpointSpec={"Ports": [{"PublishedPort": 80}]}), 'missing mandatory field "TargetPort"'),
    (
        spec(EndpointSpec={"Ports": [{"TargetPort": 80, "Protocol": "icmp"}]}),
        "invalid protocol 'icmp'",
    ),
    (
        spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishMode": "mesh"}]}),
        "invalid publish mode 'mesh'",
    ),
    (spec(EndpointSpec={"Ports": [{"TargetPort": 70000}]}), "invalid TargetPort 70000"),
    (
        spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 65536}]}),
        "invalid PublishedPort 65536",
    ),
    (
        spec(
            EndpointSpec={
                "Ports": [
                    {"TargetPort": 80, "PublishedPort": 8080},
                    {"TargetPort": 81, "PublishedPort": 8080},
                ]
            }
        ),
        "EndpointSpec: duplicate published ports provided",
    ),
    (
        spec(EndpointSpec={"Mode": "dnsrr", "Ports": [{"TargetPort": 80}]}),
        "EndpointSpec: port published with ingress mode can't be used with dnsrr mode",
    ),
    (spec(EndpointSpec={"Mode": "roundrobin"}), "invalid endpoint mode 'roundrobin'"),
    (with_template(RestartPolicy={"Condition": "always"}), "invalid RestartCondition: 'always'"),
    (with_template(RestartPolicy={"Delay": -1}), "TaskSpec: restart-delay cannot be negative"),
    (with_template(RestartPolicy={"Window": -5}), "TaskSpec: restart-window cannot be negative"),
    (with_template(RestartPolicy={"Delay": 1.5}), "RestartPolicy.Delay must be an integer"),
    (spec(UpdateConfig={"Delay": -1}), "TaskSpec: update-delay cannot be negative"),
    (spec(UpdateConfig={"Monitor": -1}), "TaskSpec: update-monitor cannot be negative"),
    (
        spec(UpdateConfig={"MaxFailureRatio": 1.5}),
        "TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1",
    ),
    (
        spec(UpdateConfig={"FailureAction": "explode"}),
        "invalid UpdateConfig.FailureAction 'explode'",
    ),
    (spec(UpdateConfig={"Order": "random"}), "invalid UpdateConfig.Order 'random'"),
    (
        spec(RollbackConfig={"FailureAction": "rollback"}),
        "invalid RollbackConfig.FailureAction 'rollback'",
    ),
    (spec(RollbackConfig={"Delay": -1}), "TaskSpec: rollback-delay cannot be negative"),
    (
        with_template(Resources={"Limits": {"NanoCPUs": 10}}),
        "invalid cpu value 1e-08: Must be at least 0.001",
    ),
    (
        with_template(Resources={"Reservations": {"MemoryBytes": 1024}}),
        "invalid memory value 1024: Must be at least 4MiB",
    ),
    (with_template(Resources={"Limits": {"MemoryBytes": -1}}), "MemoryBytes"),
    (
        with_template(
            Resources={
                "Limits": {"MemoryBytes": 8 << 20},
                "Reservations": {"MemoryBytes": 16 << 20},
            }
        ),
        "invalid memory reservation",
    ),
    (
        with_template(Placement={"Constraints": ["node.role=manager"]}),
        "constraint expected one operator from ==, !=",
    ),
    (
        with_template(Placement={"Constraints": ["node role==manager"]}),
        "key 'node role' is invalid",
    ),
    (
        with_template(Placement={"Constraints": ["node.role==man@ger"]}),
        "value 'man@ger' is invalid",
    ),
    (
        with_template(Placement={"Constraints": ["node.colour==red"]}),
        "constraint key 'node.colour' is not supported",
    ),
    (
        with_template(Placement={"Constraints": ["node.labels.==x"]}),
        "constraint key 'node.labels.' is not supported",
    ),
    (with_template(Placement={"Preferences": [{"Pack": {}}]}), "only spread is supported"),
    (
        with_template(Placement={"Preferences": [{"Spread": {"SpreadDescriptor": "zone"}}]}),
        "invalid placement preference spread=zone",
    ),
    (with_template(Placement={"MaxReplicas": -1}), "MaxReplicas"),
    (
        dict(with_template(Placement={"MaxReplicas": 2}), Mode={"Global": {}}),
        "replicas-max-per-node can only be used with replicated mode",
    ),
    (
        with_template(Networks=[{"Aliases": ["x"]}]),
        "TaskTemplate.Networks[].Target must name a network",
    ),
    (
        with_template(LogDriver={"Name": "json-file", "Options": {"max-size": 10}}),
        "invalid label value",
    ),
    ("not a spec", "service spec must be an object"),
    (with_container(Secrets=[{"SecretID": "x1"}]), "malformed secret reference"),
    (
        with_container(Secrets=[{"SecretID": "x1", "SecretName": "a"}]),
        "malformed secret reference, no target provided",
    ),
    (
        with_container(Secrets=[{"SecretID": "x1", "SecretName": "a", "File": {"Name": ""}}]),
        "malformed file secret reference, invalid target file name provided",
    ),
    (
        with_container(
            Secrets=[
                {"SecretID": "x1", "SecretName": "a", "File": {"Name": "pw"}},
                {"SecretID": "x2", "SecretName": "b", "File": {"Name": "pw"}},
            ]
        ),
        "secret references 'a' and 'b' have a conflicting target: 'pw'",
    ),
    (
        with_container(
            Configs=[{"ConfigID": "c1", "ConfigName": "c", "File": {"Name": "f", "Mode": -1}}]
        ),
        "File.Mode",
    ),
    (with_container(Configs="c1"), "ContainerSpec.Configs must be a list"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_SPECS)
def test_bad_service_specs_are_refused_with_clear_errors(bad, message):
    with pytest.raises(InvalidArgument) as err:
        controlapi.create_service(copy.deepcopy(bad), NOW, "svc1")
    assert message in err.value.desc
    assert str(err.value).startswith("rpc error: code = InvalidArgument desc = ")


def test_good_variants_pass():
    ok = [
        spec(Mode={"Global": {}}),
        spec(Mode={"Replicated": {"Replicas": 0}}),
        with_container(Image="localhost:5000/team/app:v1.2"),
        with_container(Image="busybox@sha256:" + "a" * 64),
        with_container(
            Mounts=[
                {
                    "Type": "bind",
                    "Source": "/srv",
                    "Target": "/data",
                    "BindOptions": {"Propagation": "rshared"},
                },
                {"Type": "volume", "Source": "vol_1", "Target": "/v"},
                {"Type": "volume", "Target": "/anon"},
                {
                    "Type": "tmpfs",
                    "Target": "/t",
                    "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777},
                },
            ]
        ),
        with_container(
            Healthcheck={"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000, "Retries": 3}
        ),
        with_template(
            Placement={
                "Constraints": [
                    "node.role==manager",
                    "node.labels.Zone != east",
                    "engine.labels.ssd==true",
                    "NODE.HOSTNAME==h1",
                ],
                "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                "MaxReplicas": 2,
                "Platforms": [{"Architecture": "amd64", "OS": "linux"}],
            }
        ),
        spec(
            EndpointSpec={
                "Mode": "dnsrr",
                "Ports": [{"TargetPort": 80, "PublishedPort": 80, "PublishMode": "host"}],
            }
        ),
        spec(
            EndpointSpec={
                "Ports": [
                    {"TargetPort": 53, "PublishedPort": 53, "Protocol": "udp"},
                    {"TargetPort": 53, "PublishedPort": 53, "Protocol": "tcp"},
                ]
            }
        ),
        spec(
            UpdateConfig={
                "Parallelism": 0,
                "Delay": 0,
                "FailureAction": "rollback",
                "MaxFailureRatio": 0.5,
                "Order": "start-first",
            }
        ),
    ]
    for s in ok:
        controlapi.create_service(s, NOW, "svc1")


def test_parse_constraint_and_placement_pref_helpers():
    assert service_specs.parse_constraint(" node.role == manager ") == (
        "node.role",
        "==",
        "manager",
    )
    assert service_specs.parse_constraint("node.labels.a!=b") == ("node.labels.a", "!=", "b")
    assert service_specs.parse_placement_pref("spread=node.labels.dc") == {
        "Spread": {"SpreadDescriptor": "node.labels.dc"}
    }
    with pytest.raises(InvalidArgument, match="<strategy>=<arg>"):
        service_specs.parse_placement_pref("spread")
    with pytest.raises(InvalidArgument, match="only spread is supported"):
        service_specs.parse_placement_pref("pack=node.labels.dc")


@pytest.fixture
def store() -> Store:
    s = Store()
    run(s, controlapi.create_network({"Name": "appnet", "Driver": "overlay"}, NOW, "net1"))
    run(s, controlapi.create_network({"Name": "ingress", "Ingress": True}, NOW, "ingress1"))
    return s


def test_create_resolves_network_names_to_ids_and_checks_references(store):
    s = with_template(Networks=[{"Target": "appnet"}])
    obj = run(store, controlapi.create_service(s, NOW, "svc1", store))
    assert obj["Spec"]["TaskTemplate"]["Networks"] == [{"Target": "net1"}]
    with pytest.raises(NotFound, match="network nonet not found"):
        controlapi.create_service(with_template(Networks=[{"Target": "nonet"}]), NOW, "s2", store)
    with pytest.raises(InvalidArgument, match="ingress network"):
        controlapi.create_service(with_template(Networks=[{"Target": "ingress"}]), NOW, "s2", store)
    bad_secret = with_container(
        Secrets=[{"SecretID": "nope", "SecretName": "x", "File": {"Name": "x"}}]
    )
    with pytest.raises(InvalidArgument, match="secret not found"):
        controlapi.create_service(bad_secret, NOW, "s2", store)


def test_published_port_conflicts_with_another_service(store):
    published = spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]})
    run(store, controlapi.create_service(published, NOW, "svc1", store))
    other = copy.deepcopy(published)
    other["Name"] = "api"
    with pytest.raises(InvalidArgument) as err:
        controlapi.create_service(other, NOW, "svc2", store)
    assert (
        err.value.desc == "port '8080' is already in use by service 'web' (svc1) as an ingress port"
    )
    # The service itself may keep its port on update.
    current = store.get("service", "svc1")
    controlapi.update_service(current, published, 2, LATER, store)


def test_update_keeps_previous_spec_bumps_time_and_uses_cas():
    store = Store()
    created = run(store, controlapi.create_service(spec(), NOW, "svc1"))
    new_spec = copy.deepcopy(created["Spec"])
    new_spec["Mode"]["Replicated"]["Replicas"] = 3
    cmd = controlapi.update_service(created, new_spec, created["Version"]["Index"], LATER)
    updated = run(store, cmd)
    assert updated["PreviousSpec"] == created["Spec"]
    assert updated["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
    assert updated["UpdatedAt"] == LATER and updated["CreatedAt"] == NOW
    stale = controlapi.update_service(updated, new_spec, created["Version"]["Index"], LATER)
    res = store.apply(store.applied_index + 1, commands.encode(stale))
    assert isinstance(res.error, OutOfSequence)
    assert store.get("service", "svc1") == updated


def test_update_cannot_rename():
    from swarmlet.store.errors import Unimplemented

    created = controlapi.create_service(spec(), NOW, "svc1")["object"]
    with pytest.raises(Unimplemented) as err:
        controlapi.update_service(created, spec(Name="other"), 0, LATER)
    assert (
        str(err.value)
        == "rpc error: code = Unimplemented desc = renaming services is not supported"
    )


def test_update_cannot_change_mode():
    created = controlapi.create_service(spec(), NOW, "svc1")["object"]
    with pytest.raises(InvalidArgument, match="service mode change is not allowed"):
        controlapi.update_service(created, spec(Mode={"Global": {}}), 0, LATER)


def test_rollback_swaps_spec_and_previous_spec():
    store = Store()
    created = run(store, controlapi.create_service(spec(), NOW, "svc1"))
    with pytest.raises(FailedPrecondition, match="does not have a previous spec"):
        controlapi.rollback_service(created, 1, LATER)
    v2 = copy.deepcopy(created["Spec"])
    v2["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:v2"
    updated = run(store, controlapi.update_service(created, v2, 1, LATER))
    rolled = run(store, controlapi.rollback_service(updated, updated["Version"]["Index"], LATER))
    assert rolled["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:latest"
    assert rolled["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:v2"
    assert rolled["UpdateStatus"] == {
        "State": "rollback_started",
        "StartedAt": LATER,
        "Message": "manually requested rollback",
    }


def test_job_update_starts_a_new_iteration():
    job = controlapi.create_service(spec(Mode={"ReplicatedJob": {}}), NOW, "j1")["object"]
    job["Version"] = {"Index": 4}
    updated = controlapi.update_service(job, job["Spec"], 4, LATER)["object"]
    assert updated["JobStatus"] == {"JobIteration": {"Index": 1}, "LastExecution": LATER}


def test_remove_service_is_a_delete():
    assert controlapi.remove_service({"ID": "svc1"}) == commands.delete("service", "svc1")


def test_bad_version_is_refused():
    created = controlapi.create_service(spec(), NOW, "svc1")["object"]
    with pytest.raises(InvalidArgument, match="invalid version"):
        controlapi.update_service(created, spec(), -1, LATER)


def test_input_spec_is_not_modified():
    s = spec()
    before = copy.deepcopy(s)
    controlapi.create_service(s, NOW, "svc1")
    assert s == before
    assert objects.to_json(s) == objects.to_json(before)
