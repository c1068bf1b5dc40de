"""Durable raft state in sqlite3: log entries, hard state, snapshot; one transaction per Ready.

WAL journal with ``synchronous=FULL``: a batch is on disk when ``save`` returns, and a kill at
any moment leaves either the whole batch or none of it. Entry and snapshot payloads are
sealed with the data key (XChaCha20-Poly1305 via ``nacl.secret.Aead``, the same 32-byte key
a SecretBox takes), with the entry's index and term as associated data so that rows cannot
be swapped or replayed at another position without detection.
"""

from __future__ import annotations

import json
import sqlite3

from nacl.exceptions import CryptoError
from nacl.secret import Aead

from .core import Ready
from .messages import Config, Entry, HardState, Snapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL,
    kind INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS hard_state (id INTEGER PRIMARY KEY CHECK (id = 1),
    term INTEGER NOT NULL, vote TEXT, commit_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1),
    idx INTEGER NOT NULL, term INTEGER NOT NULL, config TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


class StorageCorrupt(Exception):
    """The store does not hold a consistent raft state (or the data key is wrong)."""


class RaftStorage:
    """Not thread-safe: use it from one thread at a time (the runner's storage thread)."""

    def __init__(self, path: str, data_key: bytes):
        if len(data_key) != Aead.KEY_SIZE:
            raise ValueError(f"data key must be {Aead.KEY_SIZE} bytes")
        self._box = Aead(data_key)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ sealing

    def _seal(self, what: str, index: int, term: int, data: bytes) -> bytes:
        return self._box.encrypt(data, aad=f"{what}:{index}:{term}".encode())

    def _open(self, what: str, index: int, term: int, blob: bytes) -> bytes:
        try:
            return self._box.decrypt(blob, aad=f"{what}:{index}:{term}".encode())
        except CryptoError:
            raise StorageCorrupt(f"{what} {index} does not open with the data key") from None

    # ------------------------------------------------------------ load

    def load(self) -> tuple[HardState, Snapshot, list[Entry]]:
        """Everything a RaftNode needs to start; checks the log is gap-free after the snapshot."""
        row = self.db.execute("SELECT term, vote, commit_index FROM hard_state").fetchone()
        hs = HardState(row[0], row[1], row[2]) if row else HardState()
        row = self.db.execute("SELECT idx, term, config, data FROM snapshot").fetchone()
        snap = Snapshot()
        if row:
            idx, term, config, data = row
            snap = Snapshot(
                idx, term, Config.from_wire(json.loads(config)), self._open("snap", idx, term, data)
            )
        entries = []
        expect = snap.index + 1
        for idx, term, kind, data in self.db.execute(
            "SELECT idx, term, kind, data FROM entries WHERE idx > ? ORDER BY idx", (snap.index,)
        ):
            if idx != expect:
                raise StorageCorrupt(f"log has a gap: expected index {expect}, found {idx}")
            entries.append(Entry(term, idx, kind, self._open("entry", idx, term, data)))
            expect += 1
        last = entries[-1].index if entries else snap.index
        if hs.commit > last:
            raise StorageCorrupt(f"commit index {hs.commit} beyond the log's end {last}")
        return hs, snap, entries

    # ------------------------------------------------------------ save

    def save(self, rd: Ready) -> None:
        """Persist one Ready batch atomically and durably."""
        if rd.hard_state is None and not rd.entries and rd.snapshot is None and not rd.compaction:
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if rd.snapshot is not None:
                self._put_snapshot(rd.snapshot)
                db.execute("DELETE FROM entries")
            if rd.entries:
                db.execute("DELETE FROM entries WHERE idx >= ?", (rd.entries[0].index,))
                db.executemany(
                    "INSERT INTO entries (idx, term, kind, data) VALUES (?, ?, ?, ?)",
                    [
                        (e.index, e.term, e.kind, self._seal("entry", e.index, e.term, e.data))
                        for e in rd.entries
                    ],
                )
            if rd.compaction is not None:
                self._put_snapshot(rd.compaction)
                db.execute("DELETE FROM entries WHERE idx <= ?", (rd.compaction.index,))
            if rd.hard_state is not None:
                hs = rd.hard_state
                db.execute(
                    "INSERT OR REPLACE INTO hard_state (id, term, vote, commit_index) "
                    "VALUES (1, ?, ?, ?)",
                    (hs.term, hs.vote, hs.commit),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _put_snapshot(self, s: Snapshot) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO snapshot (id, idx, term, config, data) VALUES (1, ?, ?, ?, ?)",
            (
                s.index,
                s.term,
                json.dumps(s.config.to_wire()),
                self._seal("snap", s.index, s.term, s.data),
            ),
        )

    # ------------------------------------------------------------ small metadata

    def get_meta(self, key: str) -> bytes | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
