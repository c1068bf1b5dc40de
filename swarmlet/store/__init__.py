"""Cluster objects, the state machine applied from raft, indexes and watches."""
