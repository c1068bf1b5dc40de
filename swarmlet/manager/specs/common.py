"""Type checks and shared rules for specs decoded from JSON request bodies.

Every check raises ``InvalidArgument`` with a message that names the field, in Docker's
words where Docker has them; nothing here touches the store.
"""

from __future__ import annotations

import re

from swarmlet.store.errors import InvalidArgument

SECOND = 1_000_000_000
MILLISECOND = 1_000_000

# swarmkit's rule for service names (a DNS label).
_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")


def fail(message: str):
    raise InvalidArgument(message)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def need_map(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(f"{where} must be an object")
    return value


def opt_int(
    obj: dict, key: str, where: str, minimum: int | None = None, maximum=None, message=None
):
    """An optional integer field; ``message`` replaces the range error (Docker's wording)."""
    value = obj.get(key)
    if value is None:
        return None
    if not is_int(value):
        fail(f"{where}.{key} must be an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if message:
            fail(message)
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        fail(f"invalid {where}.{key} {value}: must be {bounds}")
    return value


def opt_duration(obj: dict, key: str, where: str, negative_message: str | None = None):
    """A duration in nanoseconds (Docker's JSON form): an integer, never negative."""
    return opt_int(
        obj, key, where, minimum=0, message=negative_message or f"{where}.{key} cannot be negative"
    )


def opt_number(obj: dict, key: str, where: str):
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        fail(f"{where}.{key} must be a number")
    return value


def opt_str(obj: dict, key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        fail(f"{where}.{key} must be a string")
    return value


def opt_bool(obj: dict, key: str, where: str):
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        fail(f"{where}.{key} must be a boolean")
    return value


def opt_enum(obj: dict, key: str, where: str, allowed: tuple[str, ...], message=None):
    value = obj.get(key)
    if value is None or value == "":
        return value
    if value not in allowed:
        fail(
            message.format(value=value)
            if message
            else f"invalid {where}.{key} {value!r}: must be one of {', '.join(allowed)}"
        )
    return value


def opt_str_list(obj: dict, key: str, where: str) -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(f"{where}.{key} must be a list of strings")
    return value


def labels(value, where: str = "Labels") -> dict:
    """Labels: a map of non-empty string keys to string values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(f"{where} must be a map of strings")
    for key, val in value.items():
        if not isinstance(key, str) or not key:
            fail(f"invalid label key {key!r} in {where}: must be a non-empty string")
        if not isinstance(val, str):
            fail(f"invalid label value for {key!r} in {where}: must be a string")
    return value


def dns_name(name, kind: str) -> str:
    """swarmkit's annotation rule for service names."""
    if not isinstance(name, str) or name == "":
        fail("meta: name must be provided")
    if not _DNS_NAME.match(name):
        fail("name must be valid as a DNS name component")
    if len(name) > 63:
        fail("name must be 63 characters or fewer")
    return name
