"""sqlite3 raft storage: round trips, sealing, compaction, and kill -9 at random moments.

Run as a script, this file is the writer that the crash test kills:
``python tests/unit/test_raft_storage.py DB KEYHEX``.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from swarmlet.raft.core import Ready
from swarmlet.raft.messages import Config, Entry, HardState, Snapshot
from swarmlet.raft.storage import RaftStorage, StorageCorrupt

KEY = bytes(range(32))


def test_round_trip_with_overwrite_and_compaction(tmp_path):
    path = str(tmp_path / "raft.db")
    st = RaftStorage(path, KEY)
    st.save(
        Ready(
            hard_state=HardState(2, "n1", 2),
            entries=[Entry(1, 1, 0, b"a"), Entry(2, 2, 0, b"b"), Entry(2, 3, 0, b"c")],
        )
    )
    st.save(Ready(entries=[Entry(3, 3, 0, b"c2"), Entry(3, 4, 0, b"d")]))
    st.save(Ready(compaction=Snapshot(2, 2, Config(frozenset({"n1"})), b"image")))
    st.close()
    hs, snap, entries = RaftStorage(path, KEY).load()
    assert hs == HardState(2, "n1", 2)
    assert (snap.index, snap.term, snap.data, snap.config.voters) == (2, 2, b"image", {"n1"})
    assert entries == [Entry(3, 3, 0, b"c2"), Entry(3, 4, 0, b"d")]


def test_snapshot_from_leader_replaces_the_log(tmp_path):
    st = RaftStorage(str(tmp_path / "raft.db"), KEY)
    st.save(Ready(entries=[Entry(1, 1, 0, b"a"), Entry(1, 2, 0, b"b")]))
    st.save(Ready(snapshot=Snapshot(10, 4, Config(), b"s"), hard_state=HardState(4, None, 10)))
    st.save(Ready(entries=[Entry(4, 11, 0, b"x")]))
    hs, snap, entries = st.load()
    assert snap.index == 10 and entries == [Entry(4, 11, 0, b"x")] and hs.commit == 10


def test_payloads_are_sealed_at_rest(tmp_path):
    path = str(tmp_path / "raft.db")
    st = RaftStorage(path, KEY)
    st.save(Ready(entries=[Entry(1, 1, 0, b"top-secret-value")]))
    st.save(Ready(compaction=Snapshot(1, 1, Config(), b"secret-image")))
    st.close()
    raw = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))
    assert b"top-secret-value" not in raw and b"secret-image" not in raw
    with pytest.raises(StorageCorrupt):
        RaftStorage(path, bytes(32)).load()


def test_swapped_rows_are_detected(tmp_path):
    st = RaftStorage(str(tmp_path / "raft.db"), KEY)
    st.save(Ready(entries=[Entry(1, 1, 0, b"a"), Entry(1, 2, 0, b"b")]))
    a = st.db.execute("SELECT data FROM entries WHERE idx = 1").fetchone()[0]
    st.db.execute("UPDATE entries SET data = ? WHERE idx = 2", (a,))
    with pytest.raises(StorageCorrupt):
        st.load()


# --------------------------------------------------------------------------- kill -9


def _writer(path: str, key: bytes) -> None:
    """Append batches forever. Every batch names itself in the vote field, so a reader can
    tell whether the last batch landed whole; commit always trails the end by two, and the
    last two entries are sometimes overwritten, as a follower's uncommitted tail is."""
    st = RaftStorage(path, key)
    hs, snap, entries = st.load()
    last = entries[-1].index if entries else snap.index
    batch = int(hs.vote[1:]) if hs.vote else 0
    rng = random.Random(os.getpid())
    while True:
        batch += 1
        term = batch
        first = last + 1
        if last - 2 > snap.index and rng.random() < 0.3:
            first = last - 1  # overwrite the uncommitted tail
        n = rng.randrange(1, 40)
        new = [
            Entry(term, i, 0, f"{batch}:{i}:".encode() + os.urandom(rng.randrange(200)))
            for i in range(first, first + n)
        ]
        last = new[-1].index
        rd = Ready(entries=new, hard_state=HardState(term, f"b{batch}", max(0, last - 2)))
        if rng.random() < 0.1 and last - 10 > snap.index:
            snap = Snapshot(last - 10, term, Config(frozenset({"n1"})), os.urandom(5000))
            rd.compaction = snap
        st.save(rd)


def _check_consistent(path: str) -> int:
    hs, snap, entries = RaftStorage(path, KEY).load()  # raises on gaps or unreadable rows
    if not entries:
        assert hs.commit <= snap.index
        return 0
    last = entries[-1]
    batch = int(hs.vote[1:])
    # The newest entry and the hard state come from the same batch: no torn batch.
    assert last.term == batch == hs.term
    assert last.data.startswith(f"{batch}:{last.index}:".encode())
    assert hs.commit == max(0, last.index - 2)
    terms = [e.term for e in entries]
    assert terms == sorted(terms)
    for e in entries:
        assert e.data.startswith(f"{e.term}:{e.index}:".encode())
    assert entries[0].index == snap.index + 1
    return batch


def test_kill_9_at_random_moments_leaves_a_consistent_store(tmp_path):
    path = str(tmp_path / "raft.db")
    rng = random.Random(4)
    batches = 0
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, __file__, path, KEY.hex()])
        time.sleep(rng.uniform(0.3, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        b = _check_consistent(path)
        assert b >= batches  # nothing that was committed went missing
        batches = b
    assert batches > 0


if __name__ == "__main__":
    _writer(sys.argv[1], bytes.fromhex(sys.argv[2]))
