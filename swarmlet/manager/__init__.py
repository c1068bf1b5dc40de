"""Services that run on the raft leader: control API, dispatcher, orchestrators, allocator, key manager, certificate authority."""
