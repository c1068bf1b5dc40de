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


class _Invalid(Exception):
    """Internal: a failure on its way out, collecting the path (built only when it fails)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.segments: list[str] = []


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

    def __post_init__(self) -> None:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        object.__setattr__(self, "_types", types)
        object.__setattr__(self, "_no_bool", bool not in types)
        object.__setattr__(self, "_int_as_float", float in types and int not in types)

    def check(self, value: Any, path: str = "value") -> Any:
        try:
            return self._check(value)
        except _Invalid as exc:
            raise SchemaError(_describe(path, exc)) from None

    def _check(self, value: Any) -> Any:
        types = self._types
        if self._no_bool and value.__class__ is bool:
            raise _Invalid(f"expected {_names(types)}, got bool")
        if self._int_as_float and value.__class__ is int:
            value = float(value)
        if not isinstance(value, types):
            raise _Invalid(f"expected {_names(types)}, got {type(value).__name__}")
        if self.choices is not None and value not in self.choices:
            raise _Invalid(f"must be one of {', '.join(map(str, self.choices))}")
        cls = value.__class__
        if cls is int or cls is float:
            if self.min is not None and value < self.min:
                raise _Invalid(f"below the minimum {self.min}")
            if self.max is not None and value > self.max:
                raise _Invalid(f"above the maximum {self.max}")
        elif cls is str or cls is bytes or cls is list or cls is dict:
            if len(value) < self.min_len:
                raise _Invalid(f"shorter than {self.min_len}")
            if self.max_len is not None and len(value) > self.max_len:
                raise _Invalid(f"longer than {self.max_len}")
            if cls is list and self.items is not None:
                out = []
                for i, v in enumerate(value):
                    try:
                        out.append(self.items._check(v))
                    except _Invalid as exc:
                        exc.segments.append(f"[{i}]")
                        raise
                value = out
            elif cls is dict and self.values is not None:
                out = {}
                for k, v in value.items():
                    if k.__class__ is not str:
                        raise _Invalid("keys must be text")
                    try:
                        out[k] = self.values._check(v)
                    except _Invalid as exc:
                        exc.segments.append(f".{k[:40]}")
                        raise
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
        try:
            return self._check(value)
        except _Invalid as exc:
            raise SchemaError(_describe(path, exc)) from None

    def _check(self, value: Any) -> dict:
        if value.__class__ is not dict:
            raise _Invalid(f"expected a map, got {type(value).__name__}")
        fields = self.fields
        out = {}
        for k, v in value.items():
            spec = fields.get(k) if k.__class__ is str else None
            if spec is None:
                raise _Invalid(f"unknown field {str(k)[:40]!r}")
            try:
                out[k] = spec._check(v)
            except _Invalid as exc:
                exc.segments.append(f".{k}")
                raise
        if len(out) < len(self.required) or not self.required.issubset(out):
            missing = sorted(self.required - out.keys())
            raise _Invalid(f"missing field {missing[0]!r}")
        return out


ANY = Field((int, float, str, bytes, bool, list, dict, type(None)))


def _describe(path: str, exc: _Invalid) -> str:
    return f"{path}{''.join(reversed(exc.segments))}: {exc.reason}"


def _names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)
