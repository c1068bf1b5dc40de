"""Raft among managers: sans-I/O core, sqlite3 storage, trio runner.

- ``core.RaftNode``: the protocol as a pure state machine (``step``, ``tick``, ``propose``,
  ``read_index``, ``transfer_leadership``, ``propose_conf_change``, ``snapshot``,
  ``force_new_cluster``; drained with ``has_ready``/``ready``/``advance``).
- ``messages``: entries, messages (``to_wire``/``from_wire`` for CBOR), membership.
- ``storage.RaftStorage``: durable log, hard state and snapshot, sealed with the data key.
- ``runner.RaftRunner``: drives a core with trio over a ``Transport`` and applies to a
  ``StateMachine``.
- ``kv.KeyValueMachine``, ``ws_transport``, ``testnode``: a replicated key-value store over
  plain websockets, for tests and benchmarks.

Importing this package imports nothing heavy; import the submodules you need.
"""
