"""Linearizability checker for key-value histories (Wing & Gong search with memoisation,
as in Lowe's and Porcupine's checkers).

A history is a list of ``Op``. Each key is checked on its own (a key-value store is
linearizable iff each key's register is), which keeps every search small. An operation
that timed out may or may not have taken effect: it gets ``end = inf`` and may be placed
anywhere after its start (a write placed last changes nothing anybody observed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    client: str
    kind: str  # "put" or "get"
    key: str
    value: str | None  # put: the value written; get: the value returned
    start: float
    end: float  # math.inf when the outcome is unknown


class NotLinearizable(AssertionError):
    pass


def check_history(ops: list[Op]) -> None:
    """Raise NotLinearizable naming the first key whose history has no valid order."""
    by_key: dict[str, list[Op]] = {}
    for op in ops:
        if op.kind == "get" and op.end == math.inf:
            continue  # a read with no answer tells nothing
        by_key.setdefault(op.key, []).append(op)
    for key in sorted(by_key):
        if not _check_register(by_key[key]):
            lines = "\n".join(
                f"  {o.client} {o.kind} {o.value!r} [{o.start:.1f}, {o.end:.1f}]"
                for o in sorted(by_key[key], key=lambda o: o.start)
            )
            raise NotLinearizable(f"key {key!r} has no linearization:\n{lines}")


def _check_register(ops: list[Op]) -> bool:
    ops = sorted(ops, key=lambda o: (o.start, o.end))
    n = len(ops)
    full = (1 << n) - 1
    seen: set[tuple[int, str | None]] = set()
    # Depth-first search over (set of linearized ops, register value).
    stack: list[tuple[int, str | None]] = [(0, None)]
    while stack:
        done, value = stack.pop()
        if done == full:
            return True
        if (done, value) in seen:
            continue
        seen.add((done, value))
        # An op may go next only if it started before every pending op has ended.
        min_end = min(ops[i].end for i in range(n) if not done >> i & 1)
        for i in range(n):
            if done >> i & 1:
                continue
            op = ops[i]
            if op.start > min_end:
                break  # sorted by start: no later op can go next either
            if op.kind == "put":
                stack.append((done | 1 << i, op.value))
            elif op.value == value:
                stack.append((done | 1 << i, value))
    return False
