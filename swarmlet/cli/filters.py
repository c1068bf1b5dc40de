"""`--filter key=value`, validated against the keys docker accepts for each listing.

Values of one key are OR-ed and different keys AND-ed by the daemon; the CLI sends them as the
Engine API's `filters` parameter: `{"key": {"value": true, ...}}`.
"""

from __future__ import annotations

ACCEPTED = {
    "service ls": ("id", "label", "mode", "name"),
    "service ps": ("id", "name", "node", "desired-state"),
    "node ls": ("id", "label", "node.label", "membership", "name", "role"),
    "node ps": ("id", "name", "node", "desired-state"),
    "stack ps": ("id", "name", "node", "desired-state"),
    "stack services": ("id", "label", "mode", "name"),
    "network ls": ("dangling", "driver", "id", "label", "name", "scope", "type"),
    "secret ls": ("id", "label", "name", "names"),
    "config ls": ("id", "label", "name", "names"),
}


class FilterError(Exception):
    """A filter the daemon would refuse; the message is docker's."""


def parse_filters(items: list[str] | None, command: str | None = None) -> dict[str, dict]:
    """`["name=web", "name=api", "mode=global"]` as the API's filters map."""
    out: dict[str, dict] = {}
    accepted = ACCEPTED.get(command) if command else None
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep:
            raise FilterError("bad format of filter (expected name=value)")
        if accepted is not None and key not in accepted:
            raise FilterError(f"Error response from daemon: Invalid filter '{key}'")
        out.setdefault(key, {})[value.strip()] = True
    return out


def check_filter_format(text: str) -> str:
    """Flag-time check, as docker's filter option does (exit 125 on a bad one)."""
    if "=" not in text:
        raise ValueError("bad format of filter (expected name=value)")
    return text


def filters_param(filters: dict[str, dict]) -> dict:
    """Query parameters for a listing request (nothing when there are no filters)."""
    return {"filters": filters} if filters else {}
