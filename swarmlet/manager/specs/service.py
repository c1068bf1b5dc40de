"""Service specs: validation with swarmkit's and Docker's error texts, and the defaults the
docker CLI fills in, so that ``service inspect`` shows what Docker would show."""

from __future__ import annotations

import copy
import posixpath
import re

from swarmlet.sched import constraints
from swarmlet.store.errors import InvalidArgument
from swarmlet.store.objects import ordered

from .common import (
    MILLISECOND,
    SECOND,
    dns_name,
    fail,
    is_int,
    labels,
    need_map,
    opt_bool,
    opt_duration,
    opt_enum,
    opt_int,
    opt_number,
    opt_str,
    opt_str_list,
)

MODES = ("Replicated", "Global", "ReplicatedJob", "GlobalJob")
RESTART_CONDITIONS = ("none", "on-failure", "any")
FAILURE_ACTIONS = ("pause", "continue", "rollback")
UPDATE_ORDERS = ("stop-first", "start-first")
ENDPOINT_MODES = ("vip", "dnsrr")
PROTOCOLS = ("tcp", "udp", "sctp")
PUBLISH_MODES = ("ingress", "host")
MOUNT_TYPES = ("bind", "volume", "tmpfs")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
CONSISTENCIES = ("default", "consistent", "cached", "delegated")

# The defaults the docker CLI sends (what `docker service inspect` shows for a plain service).
DEFAULT_STOP_GRACE_PERIOD = 10 * SECOND
DEFAULT_RESTART_DELAY = 5 * SECOND
DEFAULT_MONITOR = 5 * SECOND


def default_update_config() -> dict:
    return {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": DEFAULT_MONITOR,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    }


# -- image references (the docker/distribution grammar) --------------------------------------
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::{_TAG})?(?:@{_DIGEST})?$"
)


def valid_image_reference(image: str) -> bool:
    match = _REFERENCE.match(image)
    return bool(match) and len(match.group("name")) <= 255


# -- placement constraints: the scheduler's grammar, so what is accepted can be placed --------
def parse_constraint(expr: str) -> tuple[str, str, str]:
    """``"node.role==manager"`` -> ``("node.role", "==", "manager")``."""
    if not isinstance(expr, str):
        fail("Placement.Constraints must be a list of strings")
    try:
        c = constraints.parse_constraint(expr)
    except constraints.ConstraintError as exc:
        fail(str(exc))
    return c.key, "==" if c.equal else "!=", c.value


SPREAD_KEYS = constraints.FIXED_KEYS


def _validate_preference(pref) -> None:
    spread = need_map(pref, "Placement.Preferences[]").get("Spread")
    if not isinstance(spread, dict):
        fail("unsupported placement preference (only spread is supported)")
    descriptor = spread.get("SpreadDescriptor")
    if not isinstance(descriptor, str) or not descriptor:
        fail("placement preference spread needs a SpreadDescriptor")
    lowered = descriptor.lower()
    if lowered not in SPREAD_KEYS and not any(
        lowered.startswith(p) and len(lowered) > len(p) for p in constraints.LABEL_PREFIXES
    ):
        fail(
            f"invalid placement preference spread={descriptor}: "
            "use node.labels.<label>, engine.labels.<label> or a node attribute"
        )


def parse_placement_pref(text: str) -> dict:
    """The CLI form ``spread=node.labels.zone`` as the API's Preferences entry."""
    strategy, sep, arg = text.partition("=")
    if not sep or not strategy or not arg:
        fail('placement preference must be of the format "<strategy>=<arg>"')
    if strategy.lower() != "spread":
        fail(f"unsupported placement preference {strategy} (only spread is supported)")
    pref = {"Spread": {"SpreadDescriptor": arg}}
    _validate_preference(pref)
    return pref


# -- the parts of a spec -----------------------------------------------------------------------
def _validate_mode(spec: dict) -> str:
    mode = need_map(spec.get("Mode"), "Mode")
    given = [m for m in MODES if m in mode and mode[m] is not None]
    if "Replicated" in given and "Global" in given:
        fail("cannot specify both replicated mode and global mode")
    if len(given) > 1:
        fail(
            f"invalid Mode: only one of {', '.join(MODES)} may be given, not {' and '.join(given)}"
        )
    if not given:
        fail("invalid Mode: one of Replicated, Global, ReplicatedJob, GlobalJob is required")
    name = given[0]
    body = need_map(mode[name], f"Mode.{name}")
    if name == "Replicated":
        replicas = body.get("Replicas")
        if replicas is not None and (not is_int(replicas) or replicas < 0):
            fail(f"invalid replicas value {replicas!r}: must be an integer >= 0")
    elif name == "ReplicatedJob":
        opt_int(body, "MaxConcurrent", "Mode.ReplicatedJob", minimum=0)
        opt_int(body, "TotalCompletions", "Mode.ReplicatedJob", minimum=0)
    return name


def _validate_resources(res) -> None:
    res = need_map(res, "TaskTemplate.Resources")
    for part in ("Limits", "Reservations"):
        body = need_map(res.get(part), f"Resources.{part}")
        where = f"Resources.{part}"
        cpus = opt_int(body, "NanoCPUs", where, minimum=0)
        if cpus and cpus < 1_000_000:
            fail(f"invalid cpu value {cpus / 1e9:g}: Must be at least 0.001")
        memory = opt_int(body, "MemoryBytes", where, minimum=0)
        if memory and memory < 4 * 1024 * 1024:
            fail(f"invalid memory value {memory}: Must be at least 4MiB")
        if part == "Limits":
            opt_int(body, "Pids", where, minimum=0)
    limits = need_map(res.get("Limits"), "Resources.Limits")
    reservations = need_map(res.get("Reservations"), "Resources.Reservations")
    for key, what in (("NanoCPUs", "CPU"), ("MemoryBytes", "memory")):
        limit, reserve = limits.get(key) or 0, reservations.get(key) or 0
        if limit and reserve > limit:
            fail(f"invalid {what} reservation: it cannot be larger than the limit")


def _validate_restart(policy) -> None:
    policy = need_map(policy, "RestartPolicy")
    opt_enum(
        policy,
        "Condition",
        "RestartPolicy",
        RESTART_CONDITIONS,
        message="invalid RestartCondition: {value!r}: must be none, on-failure or any",
    )
    opt_duration(policy, "Delay", "RestartPolicy", "TaskSpec: restart-delay cannot be negative")
    opt_duration(policy, "Window", "RestartPolicy", "TaskSpec: restart-window cannot be negative")
    opt_int(policy, "MaxAttempts", "RestartPolicy", minimum=0)


def _validate_update(config, which: str) -> None:
    """UpdateConfig / RollbackConfig (``which`` is "update" or "rollback")."""
    where = "UpdateConfig" if which == "update" else "RollbackConfig"
    config = need_map(config, where)
    opt_int(config, "Parallelism", where, minimum=0)
    opt_duration(config, "Delay", where, f"TaskSpec: {which}-delay cannot be negative")
    opt_duration(config, "Monitor", where, f"TaskSpec: {which}-monitor cannot be negative")
    actions = FAILURE_ACTIONS if which == "update" else ("pause", "continue")
    opt_enum(
        config,
        "FailureAction",
        where,
        actions,
        message=f"invalid {where}.FailureAction {{value!r}}: must be one of {', '.join(actions)}",
    )
    ratio = opt_number(config, "MaxFailureRatio", where)
    if ratio is not None and not 0 <= ratio <= 1:
        fail(f"TaskSpec: {which}-maxfailureratio cannot be less than 0 or bigger than 1")
    opt_enum(config, "Order", where, UPDATE_ORDERS)


def _validate_placement(placement, mode: str) -> None:
    placement = need_map(placement, "Placement")
    for expr in opt_str_list(placement, "Constraints", "Placement") or ():
        parse_constraint(expr)
    prefs = placement.get("Preferences")
    if prefs is not None:
        if not isinstance(prefs, list):
            fail("Placement.Preferences must be a list")
        for pref in prefs:
            _validate_preference(pref)
    max_replicas = opt_int(placement, "MaxReplicas", "Placement", minimum=0)
    if max_replicas and mode != "Replicated":
        fail("replicas-max-per-node can only be used with replicated mode")
    platforms = placement.get("Platforms")
    if platforms is not None:
        if not isinstance(platforms, list):
            fail("Placement.Platforms must be a list")
        for platform in platforms:
            platform = need_map(platform, "Placement.Platforms[]")
            opt_str(platform, "Architecture", "Placement.Platforms[]")
            opt_str(platform, "OS", "Placement.Platforms[]")


_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def _validate_mount(mount) -> None:
    mount = need_map(mount, "ContainerSpec.Mounts[]")
    kind = mount.get("Type") or "volume"
    source = opt_str(mount, "Source", "Mount") or ""
    target = opt_str(mount, "Target", "Mount") or ""
    opt_bool(mount, "ReadOnly", "Mount")
    if kind not in MOUNT_TYPES:
        fail(f"invalid mount type: {kind}")
    if not target.startswith("/"):
        fail(f"invalid mount target, must be an absolute path: {target}")

    def extra(field: str):
        fail(f'invalid mount config for type "{kind}": field {field} must not be specified')

    if kind == "bind":
        if not source.startswith("/"):
            fail(f"invalid bind mount source, must be an absolute path: {source}")
        for field in ("VolumeOptions", "TmpfsOptions"):
            if mount.get(field):
                extra(field)
        bind = need_map(mount.get("BindOptions"), "Mount.BindOptions")
        opt_enum(bind, "Propagation", "Mount.BindOptions", PROPAGATIONS)
    elif kind == "volume":
        if source.startswith("/"):
            fail(f"invalid volume mount source, must not be an absolute path: {source}")
        if source and not _VOLUME_NAME.match(source):
            fail(
                f'"{source}" includes invalid characters for a local volume name, only '
                '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                "directory, use absolute path"
            )
        for field in ("BindOptions", "TmpfsOptions"):
            if mount.get(field):
                extra(field)
        vol = need_map(mount.get("VolumeOptions"), "Mount.VolumeOptions")
        opt_bool(vol, "NoCopy", "Mount.VolumeOptions")
        labels(vol.get("Labels"), "Mount.VolumeOptions.Labels")
        driver = need_map(vol.get("DriverConfig"), "Mount.VolumeOptions.DriverConfig")
        opt_str(driver, "Name", "Mount.VolumeOptions.DriverConfig")
        labels(driver.get("Options"), "Mount.VolumeOptions.DriverConfig.Options")
    else:
        if source:
            fail("invalid tmpfs source, source must be empty")
        for field in ("BindOptions", "VolumeOptions"):
            if mount.get(field):
                extra(field)
        tmpfs = need_map(mount.get("TmpfsOptions"), "Mount.TmpfsOptions")
        opt_int(tmpfs, "SizeBytes", "Mount.TmpfsOptions", minimum=0)
        opt_int(tmpfs, "Mode", "Mount.TmpfsOptions", minimum=0, maximum=0o7777)
    opt_enum(mount, "Consistency", "Mount", CONSISTENCIES)


def _validate_healthcheck(check) -> None:
    check = need_map(check, "ContainerSpec.Healthcheck")
    test = opt_str_list(check, "Test", "Healthcheck")
    if test:
        if test[0] not in ("NONE", "CMD", "CMD-SHELL"):
            fail(f"invalid Healthcheck.Test {test[0]!r}: must start with NONE, CMD or CMD-SHELL")
        if test[0] != "NONE" and len(test) < 2:
            fail("Healthcheck.Test needs a command after " + test[0])
    for key in ("Interval", "Timeout", "StartPeriod"):
        value = opt_int(check, key, "Healthcheck")
        if value is not None and value != 0 and value < MILLISECOND:
            fail(f"{key} in Healthcheck cannot be less than 1ms")
    opt_int(
        check,
        "Retries",
        "Healthcheck",
        minimum=0,
        message="Retries in Healthcheck cannot be negative",
    )


def _validate_container(container) -> None:
    if not isinstance(container, dict):
        fail("ContainerSpec: missing in service spec")
    image = container.get("Image")
    if not image:
        fail("ContainerSpec: image reference must be provided")
    if not isinstance(image, str) or not valid_image_reference(image):
        fail(f'ContainerSpec: "{image}" is not a valid repository/tag')
    where = "ContainerSpec"
    labels(container.get("Labels"), "ContainerSpec.Labels")
    for key in ("Command", "Args", "Env", "Groups", "CapabilityAdd", "CapabilityDrop"):
        opt_str_list(container, key, where)
    for entry in container.get("Env") or ():
        if entry.startswith("=") or entry == "":
            fail(f"invalid environment variable: {entry!r}")
    for key in ("Hostname", "Dir", "User", "StopSignal", "Isolation"):
        opt_str(container, key, where)
    for key in ("Init", "ReadOnly", "TTY", "OpenStdin"):
        opt_bool(container, key, where)
    opt_duration(container, "StopGracePeriod", where)
    mounts = container.get("Mounts")
    if mounts is not None:
        if not isinstance(mounts, list):
            fail("ContainerSpec.Mounts must be a list")
        targets = set()
        for mount in mounts:
            _validate_mount(mount)
            target = posixpath.normpath(mount.get("Target"))
            if target in targets:
                fail(f"ContainerSpec: duplicate mount point: {mount['Target']}")
            targets.add(target)
    if container.get("Healthcheck") is not None:
        _validate_healthcheck(container["Healthcheck"])
    _validate_refs(container.get("Secrets"), "secret")
    _validate_refs(container.get("Configs"), "config")


def _validate_refs(refs, kind: str) -> None:
    """Secret/config references: ID and name, a target, no two files at one path (swarmkit)."""
    if refs is None:
        return
    if not isinstance(refs, list):
        fail(f"ContainerSpec.{kind.capitalize()}s must be a list")
    prefix = kind.capitalize()
    targets: dict[str, str] = {}
    for ref in refs:
        if not isinstance(ref, dict):
            fail(f"malformed {kind} reference")
        ref_id, ref_name = ref.get(f"{prefix}ID"), ref.get(f"{prefix}Name")
        if (
            not isinstance(ref_id, str)
            or not ref_id
            or not isinstance(ref_name, str)
            or not ref_name
        ):
            fail(f"malformed {kind} reference")
        target = ref.get("File")
        if target is None and not (kind == "config" and ref.get("Runtime") is not None):
            fail(f"malformed {kind} reference, no target provided")
        if target is None:
            continue
        if (
            not isinstance(target, dict)
            or not isinstance(target.get("Name"), str)
            or not target["Name"]
        ):
            fail(f"malformed file {kind} reference, invalid target file name provided")
        opt_str(target, "UID", "File")
        opt_str(target, "GID", "File")
        opt_int(target, "Mode", "File", minimum=0, maximum=0o7777)
        name = target["Name"]
        if name in targets:
            fail(
                f"{kind} references '{targets[name]}' and '{ref_name}' have a conflicting "
                f"target: '{name}'"
            )
        targets[name] = ref_name


def _validate_endpoint(endpoint) -> None:
    endpoint = need_map(endpoint, "EndpointSpec")
    mode = opt_enum(
        endpoint,
        "Mode",
        "EndpointSpec",
        ENDPOINT_MODES,
        message="invalid endpoint mode {value!r}: must be vip or dnsrr",
    )
    ports = endpoint.get("Ports")
    if ports is None:
        return
    if not isinstance(ports, list):
        fail("EndpointSpec.Ports must be a list")
    seen = set()
    for port in ports:
        port = need_map(port, "EndpointSpec.Ports[]")
        where = "EndpointSpec.Ports[]"
        protocol = opt_enum(
            port,
            "Protocol",
            where,
            PROTOCOLS,
            message="invalid protocol {value!r}: must be tcp, udp or sctp",
        )
        publish_mode = opt_enum(
            port,
            "PublishMode",
            where,
            PUBLISH_MODES,
            message="invalid publish mode {value!r}: must be ingress or host",
        )
        opt_str(port, "Name", where)
        if port.get("TargetPort") in (None, 0):
            fail('invalid port: missing mandatory field "TargetPort" (the container port)')
        opt_int(
            port,
            "TargetPort",
            where,
            minimum=1,
            maximum=65535,
            message=f"invalid TargetPort {port.get('TargetPort')}: must be between 1 and 65535",
        )
        published = opt_int(
            port,
            "PublishedPort",
            where,
            minimum=0,
            maximum=65535,
            message=f"invalid PublishedPort {port.get('PublishedPort')}: must be between 0 and 65535",
        )
        if mode == "dnsrr" and (publish_mode or "ingress") == "ingress":
            fail("EndpointSpec: port published with ingress mode can't be used with dnsrr mode")
        if published:
            key = (published, protocol or "tcp")
            if key in seen:
                fail("EndpointSpec: duplicate published ports provided")
            seen.add(key)


def _validate_networks(networks, where: str) -> None:
    if networks is None:
        return
    if not isinstance(networks, list):
        fail(f"{where} must be a list")
    for net in networks:
        net = need_map(net, f"{where}[]")
        if not isinstance(net.get("Target"), str) or not net["Target"]:
            fail(f"{where}[].Target must name a network")
        opt_str_list(net, "Aliases", f"{where}[]")


def _fill_defaults(spec: dict, mode: str) -> None:
    """What the docker CLI sends for a service without flags."""
    spec.setdefault("Labels", {})
    template = spec["TaskTemplate"]
    container = template["ContainerSpec"]
    container.setdefault("Init", False)
    container.setdefault("StopGracePeriod", DEFAULT_STOP_GRACE_PERIOD)
    container.setdefault("DNSConfig", {})
    container.setdefault("Isolation", "default")
    resources = template.setdefault("Resources", {})
    resources.setdefault("Limits", {})
    resources.setdefault("Reservations", {})
    is_job = mode in ("ReplicatedJob", "GlobalJob")
    restart = template.setdefault("RestartPolicy", {})
    restart.setdefault("Condition", "on-failure" if is_job else "any")
    restart.setdefault("Delay", DEFAULT_RESTART_DELAY)
    restart.setdefault("MaxAttempts", 0)
    template.setdefault("Placement", {})
    template.setdefault("ForceUpdate", 0)
    template.setdefault("Runtime", "container")
    if mode == "Replicated" and spec["Mode"]["Replicated"].get("Replicas") is None:
        spec["Mode"]["Replicated"]["Replicas"] = 1
    if mode == "ReplicatedJob":
        job = spec["Mode"]["ReplicatedJob"]
        if job.get("MaxConcurrent") is None:
            job["MaxConcurrent"] = 1
        if job.get("TotalCompletions") is None:
            job["TotalCompletions"] = job["MaxConcurrent"]
    if not is_job:
        for key in ("UpdateConfig", "RollbackConfig"):
            config = spec.setdefault(key, {})
            for field, value in default_update_config().items():
                config.setdefault(field, value)
    endpoint = spec.setdefault("EndpointSpec", {})
    endpoint.setdefault("Mode", "vip")
    for port in endpoint.get("Ports") or ():
        port.setdefault("Protocol", "tcp")
        port.setdefault("PublishMode", "ingress")


def validate_service_spec(spec, *, fill_defaults: bool = True) -> dict:
    """A checked, normalised copy of a ServiceSpec (raises InvalidArgument)."""
    if not isinstance(spec, dict):
        raise InvalidArgument("service spec must be an object")
    spec = copy.deepcopy(spec)
    dns_name(spec.get("Name"), "service")
    labels(spec.get("Labels"))
    template = spec.get("TaskTemplate")
    if not isinstance(template, dict):
        fail("ContainerSpec: missing in service spec")
    if spec.get("Mode") is None:
        spec["Mode"] = {"Replicated": {}}
    mode = _validate_mode(spec)
    _validate_container(template.get("ContainerSpec"))
    _validate_resources(template.get("Resources"))
    _validate_restart(template.get("RestartPolicy"))
    _validate_placement(template.get("Placement"), mode)
    _validate_networks(template.get("Networks"), "TaskTemplate.Networks")
    _validate_networks(spec.get("Networks"), "Networks")
    opt_int(template, "ForceUpdate", "TaskTemplate", minimum=0)
    log_driver = need_map(template.get("LogDriver"), "TaskTemplate.LogDriver")
    opt_str(log_driver, "Name", "TaskTemplate.LogDriver")
    labels(log_driver.get("Options"), "TaskTemplate.LogDriver.Options")
    _validate_update(spec.get("UpdateConfig"), "update")
    _validate_update(spec.get("RollbackConfig"), "rollback")
    _validate_endpoint(spec.get("EndpointSpec"))
    if fill_defaults:
        _fill_defaults(spec, mode)
    return _docker_order(spec)


def _docker_order(spec: dict) -> dict:
    template = spec.get("TaskTemplate")
    if isinstance(template, dict):
        template = ordered(template, "TaskSpec")
        if isinstance(template.get("ContainerSpec"), dict):
            template["ContainerSpec"] = ordered(template["ContainerSpec"], "ContainerSpec")
        container = template.get("ContainerSpec")
        if isinstance(container, dict) and container.get("Mounts"):
            container["Mounts"] = [ordered(m, "Mount") for m in container["Mounts"]]
        if isinstance(template.get("RestartPolicy"), dict):
            template["RestartPolicy"] = ordered(template["RestartPolicy"], "RestartPolicy")
        spec["TaskTemplate"] = template
    for key in ("UpdateConfig", "RollbackConfig"):
        if isinstance(spec.get(key), dict):
            spec[key] = ordered(spec[key], "UpdateConfig")
    endpoint = spec.get("EndpointSpec")
    if isinstance(endpoint, dict):
        endpoint = ordered(endpoint, "EndpointSpec")
        if endpoint.get("Ports"):
            endpoint["Ports"] = [ordered(p, "PortConfig") for p in endpoint["Ports"]]
        spec["EndpointSpec"] = endpoint
    return ordered(spec, "ServiceSpec")


def mode_name(spec: dict) -> str:
    mode = spec.get("Mode") or {}
    return next((m for m in MODES if mode.get(m) is not None), "Replicated")
