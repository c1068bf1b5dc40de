"""Raft among managers: sans-I/O core, sqlite3 storage, trio runner."""
