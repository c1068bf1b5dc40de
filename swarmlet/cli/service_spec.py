"""ServiceSpec JSON from `service create` / `service update` flags, as docker/cli builds it.

Pure: no I/O. The flag-value parsers (`-p`, `--mount`, `--network`, `--secret`, ...) raise
ValueError with docker's wording; the parser turns that into exit 125.
"""

from __future__ import annotations

import copy
import os
import re
import shlex

from swarmlet.cli.opts import parse_bool

# swarmkit's defaults, which docker/cli fills in for flags the user did not give.
DEFAULT_UPDATE_CONFIG = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0,
    "Order": "stop-first",
}
DEFAULT_RESTART_POLICY = {"Condition": "any", "Delay": 5_000_000_000, "MaxAttempts": 0}

MODES = ("replicated", "global", "replicated-job", "global-job")


# ---- csv key=value fields -----------------------------------------------------------------


def _csv_fields(text: str) -> list[str]:
    """docker reads these options with encoding/csv: quotes allowed, comma separated."""
    import csv

    return next(csv.reader([text]))


def _kv(field: str) -> tuple[str, str | None]:
    key, sep, value = field.partition("=")
    return key.strip().lower(), (value if sep else None)


def _bool_field(key: str, value: str | None) -> bool:
    if value is None:
        return True
    try:
        return parse_bool(value)
    except ValueError:
        raise ValueError(f"invalid value for {key}: {value}") from None


# ---- ports ----------------------------------------------------------------------------------


def _port_range(text: str, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not m:
        raise ValueError(f"Invalid {what}: {text}")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    if hi < lo or hi > 65535:
        raise ValueError(f"Invalid {what}: {text}")
    return lo, hi


def parse_publish(text: str) -> list[dict]:
    """`-p 8080:80/udp`, `-p 80`, or long `published=8080,target=80,protocol=udp,mode=host`."""
    if "=" in text:
        port = {"Protocol": "tcp", "PublishMode": "ingress"}
        for field in _csv_fields(text):
            key, value = _kv(field)
            if value is None:
                raise ValueError(f"invalid field {field} must be a key=value pair")
            if key == "mode":
                if value.lower() not in ("ingress", "host"):
                    raise ValueError(
                        f"invalid publish mode value ({value}): must be either 'ingress' or 'host'"
                    )
                port["PublishMode"] = value.lower()
            elif key == "target":
                if not value.isdigit():
                    raise ValueError(f'strconv.ParseUint: parsing "{value}": invalid syntax')
                port["TargetPort"] = int(value)
            elif key == "published":
                if not value.isdigit():
                    raise ValueError(f'strconv.ParseUint: parsing "{value}": invalid syntax')
                port["PublishedPort"] = int(value)
            elif key == "protocol":
                if value.lower() not in ("tcp", "udp", "sctp"):
                    raise ValueError(f"invalid protocol value '{value}'")
                port["Protocol"] = value.lower()
            else:
                raise ValueError(f"invalid field key {key}")
        if "TargetPort" not in port:
            raise ValueError(f"missing mandatory field 'target' in {text}")
        return [port]
    spec, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"Invalid proto: {proto}")
    parts = spec.split(":")
    if len(parts) > 3:
        raise ValueError(f"invalid port format: {text}")
    if len(parts) == 3:
        raise ValueError("hostip is not supported")
    target = parts[-1]
    published = parts[0] if len(parts) == 2 else ""
    if not target:
        raise ValueError(f"No port specified: {text}<empty>")
    t_lo, t_hi = _port_range(target, "containerPort")
    if published:
        p_lo, p_hi = _port_range(published, "hostPort")
        if p_hi - p_lo != t_hi - t_lo and p_hi != p_lo:
            raise ValueError(
                f"Invalid ranges specified for container and host Ports: {target} and {published}"
            )
    else:
        p_lo = p_hi = 0
    ports = []
    for i in range(t_hi - t_lo + 1):
        published_port = 0
        if published:
            published_port = p_lo if p_lo == p_hi else p_lo + i
        ports.append(
            {
                "Protocol": proto,
                "TargetPort": t_lo + i,
                "PublishedPort": published_port,
                "PublishMode": "ingress",
            }
        )
    return ports


# ---- mounts ---------------------------------------------------------------------------------

_MOUNT_KEYS = {
    "type",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "consistency",
    "bind-propagation",
    "bind-nonrecursive",
    "volume-nocopy",
    "volume-label",
    "volume-driver",
    "volume-opt",
    "tmpfs-size",
    "tmpfs-mode",
}


def parse_mount(text: str) -> dict:
    """docker's `--mount type=bind,source=/a,target=/b,readonly` csv syntax."""
    from swarmlet.cli.opts import parse_bytes

    mount: dict = {"Type": "volume"}
    bind: dict = {}
    volume: dict = {}
    tmpfs: dict = {}
    for field in _csv_fields(text):
        key, value = _kv(field)
        if key not in _MOUNT_KEYS:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
        if value is None and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            if value.lower() not in ("bind", "volume", "tmpfs", "npipe", "cluster"):
                raise ValueError(f"invalid mount type: {value}")
            mount["Type"] = value.lower()
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool_field(key, value)
        elif key == "consistency":
            mount["Consistency"] = value.lower()
        elif key == "bind-propagation":
            bind["Propagation"] = value.lower()
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _bool_field(key, value)
        elif key == "volume-nocopy":
            volume["NoCopy"] = _bool_field(key, value)
        elif key == "volume-label":
            k, _, v = value.partition("=")
            volume.setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            tmpfs["SizeBytes"] = parse_bytes(value)
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
    if not mount.get("Target"):
        raise ValueError("target is required")
    kind = mount["Type"]
    for opts, name, want in (
        (bind, "bind", "bind"),
        (volume, "volume", "volume"),
        (tmpfs, "tmpfs", "tmpfs"),
    ):
        if opts and kind != want:
            raise ValueError(f"cannot mix '{name}-*' options with mount type '{kind}'")
    if kind == "bind" and not mount.get("Source"):
        raise ValueError('invalid mount config for type "bind": field Source must not be empty')
    if bind:
        mount["BindOptions"] = bind
    if volume:
        mount["VolumeOptions"] = volume
    if tmpfs:
        mount["TmpfsOptions"] = tmpfs
    return mount


# ---- other structured flags -----------------------------------------------------------------


def parse_network(text: str) -> dict:
    """`--network NAME` or `--network name=N,alias=A,driver-opt=k=v`."""
    if "=" not in text:
        return {"Target": text}
    net: dict = {}
    for field in _csv_fields(text):
        key, value = _kv(field)
        if value is None:
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key == "name":
            net["Target"] = value
        elif key == "alias":
            net.setdefault("Aliases", []).append(value)
        elif key == "driver-opt":
            k, _, v = value.partition("=")
            net.setdefault("DriverOpts", {})[k] = v
        else:
            raise ValueError(f"invalid field key {key}")
    if "Target" not in net:
        raise ValueError("network name/id is not specified")
    return net


def parse_file_reference(text: str) -> dict:
    """`--secret NAME` / `--config NAME` or `source=S,target=T,uid=,gid=,mode=`."""
    ref = {"Source": "", "File": {"Name": "", "UID": "0", "GID": "0", "Mode": 0o444}}
    if "=" not in text:
        ref["Source"] = text
    else:
        for field in _csv_fields(text):
            key, value = _kv(field)
            if value is None:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            if key in ("source", "src"):
                ref["Source"] = value
            elif key == "target":
                ref["File"]["Name"] = value
            elif key == "uid":
                ref["File"]["UID"] = value
            elif key == "gid":
                ref["File"]["GID"] = value
            elif key == "mode":
                try:
                    ref["File"]["Mode"] = int(value, 8)
                except ValueError:
                    raise ValueError(f"invalid mode specified: {value}") from None
            else:
                raise ValueError(f"invalid field in secret request: {key}")
        if not ref["Source"]:
            raise ValueError("source is required")
    if not ref["File"]["Name"]:
        ref["File"]["Name"] = ref["Source"]
    return ref


def parse_placement_pref(text: str) -> dict:
    strategy, sep, arg = text.partition("=")
    if not sep or not arg:
        raise ValueError('placement preference must be of the format "<strategy>=<arg>"')
    if strategy.lower() != "spread":
        raise ValueError(f"unsupported placement preference {strategy} (only spread is supported)")
    return {"Spread": {"SpreadDescriptor": arg}}


def parse_env(text: str) -> str:
    """`-e KEY=VALUE`; a bare `KEY` takes the value from this environment, as docker does."""
    key, sep, _ = text.partition("=")
    if not key:
        raise ValueError(f"invalid environment variable: {text}")
    if sep:
        return text
    return f"{text}={os.environ[text]}" if text in os.environ else text


def read_env_file(path: str) -> list[str]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(parse_env(line))
    return out


def labels_map(items: list[str] | None) -> dict:
    out: dict = {}
    for item in items or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


# ---- building -------------------------------------------------------------------------------


def _mode(mode: str, replicas, max_concurrent) -> dict:
    if replicas is not None and mode not in ("replicated", "replicated-job"):
        raise ValueError("replicas can only be used with replicated or replicated-job mode")
    if max_concurrent is not None and mode != "replicated-job":
        raise ValueError("max-concurrent can only be used with replicated-job mode")
    if mode == "global":
        return {"Global": {}}
    if mode == "global-job":
        return {"GlobalJob": {}}
    if mode == "replicated-job":
        job = {"MaxConcurrent": 1 if max_concurrent is None else max_concurrent}
        job["TotalCompletions"] = job["MaxConcurrent"] if replicas is None else replicas
        if max_concurrent is None and replicas is not None:
            job["MaxConcurrent"] = 1
        return {"ReplicatedJob": job}
    if mode != "replicated":
        raise ValueError(f"invalid replicated mode '{mode}'")
    return {"Replicated": {} if replicas is None else {"Replicas": replicas}}


def _update_config(args, prefix: str, current: dict | None) -> dict:
    cfg = dict(current or DEFAULT_UPDATE_CONFIG)
    fields = {
        "parallelism": "Parallelism",
        "delay": "Delay",
        "failure_action": "FailureAction",
        "monitor": "Monitor",
        "max_failure_ratio": "MaxFailureRatio",
        "order": "Order",
    }
    return _copy_given(args, cfg, ((f"{prefix}_{flag}", key) for flag, key in fields.items()))


def _copy_given(args, target: dict, pairs) -> dict:
    """Set ``target[key]`` from each (flag, key) flag that was given; the rest stay as they are."""
    for flag, key in pairs:
        value = getattr(args, flag, None)
        if value is not None:
            target[key] = value
    return target


def _restart_policy(args, current: dict | None) -> dict:
    flags = (
        ("restart_condition", "Condition"),
        ("restart_delay", "Delay"),
        ("restart_max_attempts", "MaxAttempts"),
        ("restart_window", "Window"),
    )
    return _copy_given(args, dict(current or DEFAULT_RESTART_POLICY), flags)


def _resources(args, current: dict | None) -> dict:
    res = copy.deepcopy(current) if current else {"Limits": {}, "Reservations": {}}
    for flag, section, key in (
        ("limit_cpu", "Limits", "NanoCPUs"),
        ("limit_memory", "Limits", "MemoryBytes"),
        ("limit_pids", "Limits", "Pids"),
        ("reserve_cpu", "Reservations", "NanoCPUs"),
        ("reserve_memory", "Reservations", "MemoryBytes"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            res.setdefault(section, {})[key] = value
    return res


def _healthcheck(args, current: dict | None) -> dict | None:
    given = {
        "Interval": getattr(args, "health_interval", None),
        "Timeout": getattr(args, "health_timeout", None),
        "Retries": getattr(args, "health_retries", None),
        "StartPeriod": getattr(args, "health_start_period", None),
    }
    cmd = getattr(args, "health_cmd", None)
    any_health = cmd is not None or any(v is not None for v in given.values())
    if getattr(args, "no_healthcheck", False):
        if any_health:
            raise ValueError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not any_health:
        return current
    health = dict(current or {})
    if health.get("Test") == ["NONE"]:
        health = {}
    if cmd is not None:
        health["Test"] = ["CMD-SHELL", cmd] if cmd else []
    for key, value in given.items():
        if value is not None:
            health[key] = value
    return health


def _container_scalars(args, cs: dict) -> None:
    flags = (
        ("hostname", "Hostname"),
        ("workdir", "Dir"),
        ("user", "User"),
        ("stop_signal", "StopSignal"),
        ("stop_grace_period", "StopGracePeriod"),
        ("isolation", "Isolation"),
    )
    _copy_given(args, cs, flags)
    for flag, key in (("tty", "TTY"), ("read_only", "ReadOnly"), ("init", "Init")):
        value = getattr(args, flag, None)
        if value:
            cs[key] = True
    entrypoint = getattr(args, "entrypoint", None)
    if entrypoint is not None:
        cs["Command"] = shlex.split(entrypoint)


def build_service_spec(args) -> dict:
    """The ServiceSpec `docker service create` would send for these flags."""
    cs: dict = {"Image": args.image}
    if args.command:
        cs["Args"] = list(args.command)
    env = []
    for path in args.env_file or []:
        env.extend(read_env_file(path))
    env.extend(args.env or [])
    if env:
        cs["Env"] = env
    if args.container_label:
        cs["Labels"] = labels_map(args.container_label)
    if args.group:
        cs["Groups"] = list(args.group)
    if args.mount:
        cs["Mounts"] = list(args.mount)
    if args.dns or args.dns_search or args.dns_option:
        cs["DNSConfig"] = {
            "Nameservers": list(args.dns or []),
            "Search": list(args.dns_search or []),
            "Options": list(args.dns_option or []),
        }
    if args.host:
        cs["Hosts"] = [_host_entry(h) for h in args.host]
    if args.secret:
        cs["Secrets"] = [_secret_ref(r, "Secret") for r in args.secret]
    if args.config:
        cs["Configs"] = [_secret_ref(r, "Config") for r in args.config]
    if args.cap_add:
        cs["CapabilityAdd"] = list(args.cap_add)
    if args.cap_drop:
        cs["CapabilityDrop"] = list(args.cap_drop)
    if args.sysctl:
        cs["Sysctls"] = labels_map(args.sysctl)
    _container_scalars(args, cs)
    health = _healthcheck(args, None)
    if health is not None:
        cs["Healthcheck"] = health

    task: dict = {
        "ContainerSpec": cs,
        "Resources": _resources(args, None),
        "RestartPolicy": _restart_policy(args, None),
        "Placement": {},
    }
    if args.constraint:
        task["Placement"]["Constraints"] = list(args.constraint)
    if args.placement_pref:
        task["Placement"]["Preferences"] = list(args.placement_pref)
    if args.replicas_max_per_node is not None:
        task["Placement"]["MaxReplicas"] = args.replicas_max_per_node
    if args.network:
        task["Networks"] = list(args.network)
    if args.log_driver:
        task["LogDriver"] = {"Name": args.log_driver, "Options": labels_map(args.log_opt)}

    mode = (args.mode or "replicated").lower()
    spec = {
        "Name": args.name or "",
        "Labels": labels_map(args.label),
        "TaskTemplate": task,
        "Mode": _mode(mode, args.replicas, args.max_concurrent),
        "EndpointSpec": {
            "Mode": (args.endpoint_mode or "vip").lower(),
            "Ports": [p for group in args.publish or [] for p in group],
        },
    }
    if mode in ("replicated", "global"):
        spec["UpdateConfig"] = _update_config(args, "update", None)
        spec["RollbackConfig"] = _update_config(args, "rollback", None)
    return spec


def _host_entry(text: str) -> str:
    """`--host name:ip` becomes the `IP NAME` line docker stores."""
    name, sep, ip = text.partition(":")
    if not sep:
        raise ValueError(f"bad format for add-host: {text}")
    return f"{ip} {name}"


def _secret_ref(ref: dict, kind: str) -> dict:
    out = {"File": dict(ref["File"]), f"{kind}ID": ref.get("ID", ""), f"{kind}Name": ref["Source"]}
    return out


def _merge_list(current: list, add: list, remove_keys: set, key) -> list:
    kept = [item for item in current if key(item) not in remove_keys]
    added_keys = {key(item) for item in add}
    kept = [item for item in kept if key(item) not in added_keys]
    return kept + list(add)


def update_service_spec(spec: dict, args) -> dict:
    """A copy of `spec` with the `service update` flags applied, as docker/cli applies them."""
    spec = copy.deepcopy(spec)
    task = spec.setdefault("TaskTemplate", {})
    cs = task.setdefault("ContainerSpec", {})
    if args.image is not None:
        cs["Image"] = args.image
    if args.args is not None:
        cs["Args"] = shlex.split(args.args)
    if args.env_add or args.env_rm:
        rm = {e.partition("=")[0] for e in args.env_rm or []}
        cs["Env"] = _merge_list(
            cs.get("Env") or [], args.env_add or [], rm, lambda e: e.partition("=")[0]
        )
    for flag, holder, key in (
        ("label", spec, "Labels"),
        ("container_label", cs, "Labels"),
        ("sysctl", cs, "Sysctls"),
    ):
        add = getattr(args, f"{flag}_add", None)
        rm = getattr(args, f"{flag}_rm", None)
        if add or rm:
            labels = dict(holder.get(key) or {})
            for k in rm or []:
                labels.pop(k.partition("=")[0], None)
            labels.update(labels_map(add))
            holder[key] = labels
    for flag, key in (
        ("group", "Groups"),
        ("cap_add", "CapabilityAdd"),
        ("cap_drop", "CapabilityDrop"),
    ):
        add = getattr(args, f"{flag}_add" if flag == "group" else flag, None)
        if flag == "group" and (add or args.group_rm):
            cs[key] = _merge_list(cs.get(key) or [], add or [], set(args.group_rm or []), str)
        elif flag != "group" and add:
            cs[key] = _merge_list(cs.get(key) or [], add, set(), str)
    if args.mount_add or args.mount_rm:
        cs["Mounts"] = _merge_list(
            cs.get("Mounts") or [],
            args.mount_add or [],
            set(args.mount_rm or []),
            lambda m: m["Target"],
        )
    if args.host_add or args.host_rm:
        rm = {_host_entry(h) if ":" in h else h for h in args.host_rm or []}
        cs["Hosts"] = [h for h in cs.get("Hosts") or [] if h not in rm and h.split()[-1] not in rm]
        cs["Hosts"] += [_host_entry(h) for h in args.host_add or []]
    if (
        args.dns_add
        or args.dns_rm
        or args.dns_search_add
        or args.dns_search_rm
        or args.dns_option_add
        or args.dns_option_rm
    ):
        dns = cs.setdefault("DNSConfig", {})
        for name, key in (
            ("dns", "Nameservers"),
            ("dns_search", "Search"),
            ("dns_option", "Options"),
        ):
            dns[key] = _merge_list(
                dns.get(key) or [],
                getattr(args, f"{name}_add") or [],
                set(getattr(args, f"{name}_rm") or []),
                str,
            )
    for kind, flag in (("Secret", "secret"), ("Config", "config")):
        add = getattr(args, f"{flag}_add") or []
        rm = set(getattr(args, f"{flag}_rm") or [])
        if add or rm:
            key = f"{kind}s"
            cs[key] = _merge_list(
                cs.get(key) or [],
                [_secret_ref(r, kind) for r in add],
                rm,
                lambda r, kind=kind: r.get(f"{kind}Name") or r.get(f"{kind}ID"),
            )
    _container_scalars(args, cs)
    health = _healthcheck(args, cs.get("Healthcheck"))
    if health is not None:
        cs["Healthcheck"] = health

    task["Resources"] = _resources(args, task.get("Resources"))
    task["RestartPolicy"] = _restart_policy(args, task.get("RestartPolicy"))
    placement = task.setdefault("Placement", {})
    if args.constraint_add or args.constraint_rm:
        placement["Constraints"] = _merge_list(
            placement.get("Constraints") or [],
            args.constraint_add or [],
            set(args.constraint_rm or []),
            str,
        )
    if args.placement_pref_add or args.placement_pref_rm:
        rm = {p.partition("=")[2] for p in args.placement_pref_rm or []}
        placement["Preferences"] = _merge_list(
            placement.get("Preferences") or [],
            args.placement_pref_add or [],
            rm,
            lambda p: p.get("Spread", {}).get("SpreadDescriptor"),
        )
    if args.replicas_max_per_node is not None:
        placement["MaxReplicas"] = args.replicas_max_per_node
    if args.network_add or args.network_rm:
        task["Networks"] = _merge_list(
            task.get("Networks") or [],
            args.network_add or [],
            set(args.network_rm or []),
            lambda n: n["Target"],
        )
    if args.log_driver is not None:
        task["LogDriver"] = {"Name": args.log_driver, "Options": labels_map(args.log_opt)}
    if args.force:
        task["ForceUpdate"] = int(task.get("ForceUpdate") or 0) + 1

    mode = spec.get("Mode", {})
    if args.replicas is not None:
        if "Replicated" in mode:
            mode["Replicated"]["Replicas"] = args.replicas
        elif "ReplicatedJob" in mode:
            mode["ReplicatedJob"]["TotalCompletions"] = args.replicas
        else:
            raise ValueError("replicas can only be used with replicated or replicated-job mode")
    if args.max_concurrent is not None:
        if "ReplicatedJob" not in mode:
            raise ValueError("max-concurrent can only be used with replicated-job mode")
        mode["ReplicatedJob"]["MaxConcurrent"] = args.max_concurrent

    endpoint = spec.setdefault("EndpointSpec", {"Mode": "vip"})
    if args.endpoint_mode is not None:
        endpoint["Mode"] = args.endpoint_mode.lower()
    if args.publish_add or args.publish_rm:
        rm = {_port_key(p) for group in args.publish_rm or [] for p in group}
        rm_targets = {p["TargetPort"] for group in args.publish_rm or [] for p in group}
        ports = [
            p
            for p in endpoint.get("Ports") or []
            if _port_key(p) not in rm and (p.get("TargetPort") not in rm_targets)
        ]
        endpoint["Ports"] = _merge_list(
            ports, [p for g in args.publish_add or [] for p in g], set(), _port_key
        )

    if any(getattr(args, f"update_{f}", None) is not None for f in _UPDATE_FIELDS):
        spec["UpdateConfig"] = _update_config(args, "update", spec.get("UpdateConfig"))
    if any(getattr(args, f"rollback_{f}", None) is not None for f in _UPDATE_FIELDS):
        spec["RollbackConfig"] = _update_config(args, "rollback", spec.get("RollbackConfig"))
    return spec


_UPDATE_FIELDS = ("parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order")


def _port_key(p: dict) -> tuple:
    return (p.get("PublishedPort", 0), p.get("TargetPort"), p.get("Protocol", "tcp"))


def parse_scale(text: str) -> tuple[str, int]:
    """`SERVICE=REPLICAS` as `service scale` takes it."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"invalid scale specifier '{text}'.\nSee 'swarmlet service scale --help'.")
    if not value.isdigit():
        raise ValueError(
            f'invalid replicas value {value}: strconv.ParseUint: parsing "{value}": invalid syntax'
        )
    return name, int(value)
