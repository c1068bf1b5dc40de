"""Output of listings and inspect, with docker's semantics.

Listings go through `print_listing`: rows are dicts of formatter fields (`ID`, `Name`, ...);
`--format` may be `table`, `table TEMPLATE`, `json` or a Go template; `-q` prints IDs.
Tables are laid out like Go's tabwriter as docker configures it (min width 10, padding 3).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from swarmlet.cli.gotemplate import NO_VALUE, TemplateError, parse


class FormatError(Exception):
    """A --format the CLI cannot use; printed as `template parsing error: ...`, exit 1."""


def expand_escapes(fmt: str) -> str:
    """docker turns a typed `\\t` / `\\n` in --format into a tab / newline."""
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def tabwrite(lines: list[str], minwidth: int = 10, padding: int = 3) -> str:
    """Go's tabwriter: tab-terminated cells aligned per column; the last cell is not padded."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 0), max(len(cell) + padding, minwidth))
    out = []
    for cells in rows:
        text = "".join(cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])) + cells[-1]
        out.append(text.rstrip() if not cells[-1] else text)
    return "".join(line + "\n" for line in out)


def _template(text: str, zero=None):
    try:
        return parse(text, zero)
    except TemplateError as exc:
        raise FormatError(f"template parsing error: {exc}") from None


def _execute(tpl, data) -> str:
    try:
        return tpl.execute(data)
    except TemplateError as exc:
        raise FormatError(f"template parsing error: {exc}") from None


def format_listing(
    rows: list[dict],
    fmt: str | None,
    default_table: str,
    headers: dict[str, str],
    quiet: bool = False,
    id_field: str = "ID",
) -> str:
    """Render rows as docker's formatter would for this listing; returns the text."""
    if quiet and not (fmt and fmt not in ("table",)):
        return "".join(f"{row.get(id_field, '')}\n" for row in rows)
    fmt = fmt or "table"
    if fmt == "json":
        # docker marshals its formatter context as a map: keys come out sorted.
        return "".join(
            json.dumps(row, separators=(",", ":"), sort_keys=True) + "\n" for row in rows
        )
    if fmt == "table":
        fmt = default_table
    fmt = expand_escapes(fmt)
    if fmt.startswith("table"):
        body = fmt[len("table") :].lstrip(" ")
        if quiet:
            body = "{{." + id_field + "}}"
        tpl = _template(body)
        lines = [] if quiet else [_execute(tpl, _HeaderRow(headers))]
        lines += [_execute(tpl, row) for row in rows]
        return tabwrite(lines)
    tpl = _template(fmt)
    return "".join(_execute(tpl, row) + "\n" for row in rows)


class _HeaderRow(dict):
    """The row the header line is rendered from: each field gives its column title."""

    def __init__(self, headers: dict[str, str]):
        super().__init__()
        self.headers = headers

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return self.headers.get(key, key.upper())


def print_listing(rows, fmt, default_table, headers, quiet=False, id_field="ID") -> None:
    sys.stdout.write(format_listing(rows, fmt, default_table, headers, quiet, id_field))


# ---- inspect -------------------------------------------------------------------------------

# Go zero values of Docker API fields that users read with `inspect --format` but an object
# may omit (omitempty in the Engine API): a missing bool prints `false`, not `<no value>`.
_BOOL_FIELDS = {
    "ReadOnly", "TTY", "OpenStdin", "Init", "Attachable", "Ingress", "Internal", "EnableIPv6",
    "ConfigOnly", "Leader", "AutoLockManagers", "NoCopy", "NonRecursive", "ForceNewCluster",
    "Privileged", "Detach", "Preferred", "ExternalCA", "Insecure",
}  # fmt: skip
_MAP_FIELDS = {"Labels", "Options", "DriverOpts", "Sysctls", "EngineLabels", "Containers"}
_LIST_FIELDS = {
    "Env", "Args", "Command", "Mounts", "Constraints", "Preferences", "Ports", "Networks",
    "VirtualIPs", "Secrets", "Configs", "Hosts", "Groups", "CapabilityAdd", "CapabilityDrop",
    "Aliases", "Plugins", "Platforms", "GenericResources", "Test", "Nameservers", "Search",
}  # fmt: skip
_INT_FIELDS = {
    "Replicas", "Index", "ForceUpdate", "MaxAttempts", "Parallelism", "Delay", "Window",
    "Monitor", "MaxFailureRatio", "NanoCPUs", "MemoryBytes", "Pids", "Slot", "ExitCode", "PID",
    "TargetPort", "PublishedPort", "MaxReplicas", "StopGracePeriod", "Interval", "Timeout",
    "Retries", "StartPeriod", "MaxConcurrent", "TotalCompletions", "SizeBytes", "Mode",
    "TaskHistoryRetentionLimit", "SnapshotInterval", "HeartbeatTick", "ElectionTick",
    "KeepOldSnapshots", "LogEntriesForSlowFollowers", "DataPathPort", "SubnetSize",
}  # fmt: skip


def zero_value(name: str):
    """Go's zero value for a missing field of a Docker API object, by field name."""
    if name in _BOOL_FIELDS:
        return False
    if name in _MAP_FIELDS:
        return {}
    if name in _LIST_FIELDS:
        return []
    if name in _INT_FIELDS:
        return 0
    return NO_VALUE


def format_inspect(objects: list, fmt: str | None) -> str:
    """`inspect` output: an indented JSON array, or each object through a Go template."""
    if not fmt:
        return json.dumps(objects, indent=4) + "\n"
    if fmt == "json":
        return "".join(json.dumps(obj) + "\n" for obj in objects)
    tpl = _template(expand_escapes(fmt), zero_value)
    return "".join(_execute(tpl, obj) + "\n" for obj in objects)


def print_inspect(objects: list, fmt: str | None, pretty=None) -> int:
    """Print `inspect` output: each object through `pretty` (a `--pretty` renderer, used only
    without a --format), else `format_inspect`'s."""
    if pretty is not None and not fmt:
        for obj in objects:
            sys.stdout.write(pretty(obj))
        return 0
    sys.stdout.write(format_inspect(objects, fmt))
    return 0


# ---- human durations (docker/go-units HumanDuration) ----------------------------------------


def human_duration(seconds: float) -> str:
    if seconds < 1:
        return "Less than a second"
    if seconds < 2:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def parse_timestamp(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as the Engine API writes it (nanoseconds allowed)."""
    if not text or text.startswith("0001-01-01"):
        return None
    text = text.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def ago(text: str | None, now: datetime | None = None) -> str:
    """`5 minutes ago` from an API timestamp; empty when unknown."""
    when = parse_timestamp(text)
    if when is None:
        return ""
    now = now or datetime.now(UTC)
    return human_duration(max(0.0, (now - when).total_seconds())) + " ago"


def truncate_id(value: str, no_trunc: bool, length: int = 12) -> str:
    return value if no_trunc else value[:length]
