"""Retransmit-limited queue of membership updates to piggyback on outgoing messages.

One entry per member: a newer update about a member replaces the older one. Updates sent
the fewest times go first; each is dropped after `limit` transmissions.
"""

from __future__ import annotations

from itertools import count


class BroadcastQueue:
    __slots__ = ("_items", "_seq")

    def __init__(self):
        self._items: dict[str, list] = {}  # member id -> [transmits, -seq, update]
        self._seq = count()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, update: dict) -> None:
        self._items[update["id"]] = [0, -next(self._seq), update]

    def pending(self, member_id: str) -> dict | None:
        item = self._items.get(member_id)
        return item[2] if item else None

    def take(self, limit: int, max_items: int) -> list[dict]:
        """Updates for one outgoing message; counts one transmission for each."""
        items = self._items
        if not items:
            return []
        if len(items) <= max_items:
            chosen = list(items.values())
        else:
            chosen = sorted(items.values(), key=lambda it: (it[0], it[1]))[:max_items]
        out = []
        for item in chosen:
            item[0] += 1
            upd = item[2]
            out.append(upd)
            if item[0] >= limit:
                del items[upd["id"]]
        return out
