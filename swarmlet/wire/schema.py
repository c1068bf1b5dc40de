"""A small declarative schema for decoded messages, checked before any handler runs.

    PING = Schema(seq=Field(int, min=0), note=Field(str, max_len=100, optional=True))
    body = PING.validate(decoded)   # SchemaError("note: longer than 100") otherwise

Unknown fields are refused: a message carries what its schema says and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SchemaError(ValueError):
    """A message that does not match its schema; the message names the field."""


@dataclass(frozen=True)
class Field:
    """One value: its type(s), and bounds (numbers: min/max; str/bytes/list/dict: max_len)."""

    type: type | tuple[type, ...]
    optional: bool = False
    min: float | None = None
    max: float | None = None
    min_len: int = 0
    max_len: int | None = None
    items: Field | Schema | None = None  # for lists: each element
    values: Field | Schema | None = None  # for free-form dicts: each value (keys are str)
    choices: tuple | None = None

    def check(self, value: Any, path: str) -> Any:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if isinstance(value, bool) and bool not in types:
            raise SchemaError(f"{path}: expected {_names(types)}, got bool")
        if float in types and int not in types and type(value) is int:
            value = float(value)
        if not isinstance(value, types):
            raise SchemaError(f"{path}: expected {_names(types)}, got {type(value).__name__}")
        if self.choices is not None and value not in self.choices:
            raise SchemaError(f"{path}: must be one of {', '.join(map(str, self.choices))}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.min is not None and value < self.min:
                raise SchemaError(f"{path}: below the minimum {self.min}")
            if self.max is not None and value > self.max:
                raise SchemaError(f"{path}: above the maximum {self.max}")
        if isinstance(value, (str, bytes, list, dict)):
            if len(value) < self.min_len:
                raise SchemaError(f"{path}: shorter than {self.min_len}")
            if self.max_len is not None and len(value) > self.max_len:
                raise SchemaError(f"{path}: longer than {self.max_len}")
        if isinstance(value, list) and self.items is not None:
            value = [_check(self.items, v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict) and self.values is not None:
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise SchemaError(f"{path}: keys must be text")
                out[k] = _check(self.values, v, f"{path}.{k}")
            value = out
        return value


class Schema:
    """A map with named fields (each a Field or a nested Schema)."""

    def __init__(self, **fields: Field | Schema) -> None:
        self.fields = fields
        self.required = frozenset(
            n for n, f in fields.items() if not (isinstance(f, Field) and f.optional)
        )

    def validate(self, value: Any, path: str = "message") -> dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: expected a map, got {type(value).__name__}")
        unknown = [k for k in value if k not in self.fields]
        if unknown:
            raise SchemaError(f"{path}: unknown field {str(unknown[0])[:40]!r}")
        missing = self.required - value.keys()
        if missing:
            raise SchemaError(f"{path}: missing field {sorted(missing)[0]!r}")
        return {k: _check(self.fields[k], v, f"{path}.{k}") for k, v in value.items()}


ANY = Field((int, float, str, bytes, bool, list, dict, type(None)))


def _check(spec: Field | Schema, value: Any, path: str) -> Any:
    if isinstance(spec, Schema):
        return spec.validate(value, path)
    return spec.check(value, path)


def _names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)
