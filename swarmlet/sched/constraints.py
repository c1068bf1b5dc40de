"""Placement constraints (`--constraint node.labels.zone==east`), parsed once and matched
against nodes in Docker's JSON shape.

Matching follows Swarm: values compare case-insensitively, a missing label never equals
anything (so `!=` matches it), and `node.ip` accepts an address or a CIDR.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_OPERATORS = ("==", "!=")
# swarmkit's grammar: keys compare case-insensitively, label names keep their case
_KEY_RE = re.compile(r"(?i)^[a-z_][a-z0-9\-_.]+$")
_VALUE_RE = re.compile(r"(?i)^[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$")
FIXED_KEYS = (
    "node.id",
    "node.hostname",
    "node.ip",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
)
LABEL_PREFIXES = ("node.labels.", "engine.labels.")


class ConstraintError(ValueError):
    """A constraint that cannot be parsed; the message is Docker's wording."""


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def matches(self, node: dict) -> bool:
        if self.key == "node.ip":
            return self._matches_ip(node) == self.equal
        found = node_attribute(node, self.key)
        if found is None:
            return not self.equal
        return (found.casefold() == self.value.casefold()) == self.equal

    def _matches_ip(self, node: dict) -> bool:
        addr = ((node.get("Status") or {}).get("Addr") or "").strip()
        if not addr:
            return False
        try:
            ip = ipaddress.ip_address(addr)
            if "/" in self.value:
                return ip in ipaddress.ip_network(self.value, strict=False)
            return ip == ipaddress.ip_address(self.value)
        except ValueError:
            return False


def parse_constraint(text: str) -> Constraint:
    """`node.labels.zone==east` -> Constraint; ConstraintError in swarmkit's words."""
    for op in _OPERATORS:
        if op in text:
            key, _, value = text.partition(op)
            key, value = key.strip(), value.strip()
            break
    else:
        raise ConstraintError("constraint expected one operator from ==, !=")
    if not _KEY_RE.match(key):
        raise ConstraintError(f"key '{key}' is invalid")
    if not _VALUE_RE.match(value) or any(o in value for o in _OPERATORS):
        raise ConstraintError(f"value '{value}' is invalid")
    lowered = key.lower()
    prefix = next((p for p in LABEL_PREFIXES if lowered.startswith(p)), None)
    if lowered in FIXED_KEYS:
        key = lowered
    elif prefix is not None and len(key) > len(prefix):
        key = prefix + key[len(prefix) :]  # the label's name keeps its case
    else:
        raise ConstraintError(
            f"constraint key '{key}' is not supported: use "
            + ", ".join(FIXED_KEYS)
            + ", node.labels.<label> or engine.labels.<label>"
        )
    if key == "node.ip":
        try:
            if "/" in value:
                ipaddress.ip_network(value, strict=False)
            else:
                ipaddress.ip_address(value)
        except ValueError:
            raise ConstraintError(f"value '{value}' is not an IP address or network") from None
    return Constraint(key, op == "==", value)


def parse_constraints(texts: list[str] | None) -> tuple[Constraint, ...]:
    return tuple(parse_constraint(t) for t in texts or ())


def node_attribute(node: dict, key: str) -> str | None:
    """The node's value for a constraint or placement-preference key, None when absent."""
    spec = node.get("Spec") or {}
    desc = node.get("Description") or {}
    if key == "node.id":
        return node.get("ID")
    if key == "node.hostname":
        return desc.get("Hostname")
    if key == "node.role":
        return spec.get("Role")
    if key == "node.ip":
        return (node.get("Status") or {}).get("Addr")
    if key == "node.platform.os":
        return (desc.get("Platform") or {}).get("OS")
    if key == "node.platform.arch":
        return (desc.get("Platform") or {}).get("Architecture")
    if key.startswith("node.labels."):
        return (spec.get("Labels") or {}).get(key[len("node.labels.") :])
    if key.startswith("engine.labels."):
        return ((desc.get("Engine") or {}).get("Labels") or {}).get(key[len("engine.labels.") :])
    return None
