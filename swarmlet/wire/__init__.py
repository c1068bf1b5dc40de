"""Websocket sessions between nodes: handshake, sealed frames, messages, requests, streams.

How a runner (raft, gossip, dispatcher) uses it::

    from swarmlet.wire.mux import Router, RemoteError
    from swarmlet.wire.peers import Transport
    from swarmlet.wire.schema import Field, Schema
    from swarmlet.wire.session import Credentials

    VOTE = Schema(term=Field(int, min=0), candidate=Field(str, max_len=25))

    router = Router()
    async def on_vote(peer, body):            # peer: PeerInfo(node_id, role, certificate, address)
        return {"granted": True}              # the reply body (plain CBOR data)
    router.request("raft.vote", VOTE, on_vote, roles={"manager"})   # workers get "forbidden"
    router.message("gossip.ping", PING, on_ping)                    # one-way, handled in order
    router.stream("logs.follow", FOLLOW, on_follow)  # async def on_follow(peer, body, out): await out.send(chunk)

    creds = Credentials(identity, certificate, root_public_key, revoked=revocation_set)
    transport = Transport(creds, router, listen=("0.0.0.0", 2377))
    port = await nursery.start(transport.run)

    reply = await transport.request("10.0.0.2:2377", "raft.vote", {...}, timeout=1.0)
    await transport.send(address, "gossip.ping", {...})          # waits if the queue is full
    conn = await transport.connection(address)                    # reused; redialed with backoff
    conn.send_nowait("gossip.ping", {...})                        # or Backpressure at once
    async with conn.stream("logs.follow", {...}) as chunks:
        async for chunk in chunks: ...
    conn = transport.by_node.get(node_id)                         # any live session with a node
    await transport.revoke(node_id)                               # node rm: refuse and disconnect

Errors a caller sees: `RemoteError(code, message)` — codes "unknown_type", "invalid" (schema),
"forbidden" (role), "internal" (handler crashed), or any code a handler raised with
`RemoteError`; `RequestTimeout` (code "timeout"); `Unavailable` (code "unavailable": the peer
could not be reached or the session ended).

Joining: `join.join_swarm(data_dir, manager_address, token_text)` -> Credentials (saved in the
data dir; built on `endpoint.request_certificate`); `join.node_credentials(data_dir)` at every
start; `security.bootstrap.init_cluster(data_dir, now)` for ``swarm init``. The manager serves
joins when its Transport has `policy=SessionPolicy(authorize_join=ca.authorize_join)`.
Root rotation: `Credentials.extra_roots` (also trusted), `.issuer` and `.cross_signature` (shown
with a certificate of the new root, so that nodes that trust only the old root accept it).
Incoming sessions are capped per node (`max_sessions_per_node`, default 4). Renewal: `certificates.register_certificate_service(router, ca)` on
managers, `certificates.renew_certificate(conn, creds)` on any node.

Modules: `codec` (strict CBOR), `schema` (message schemas), `session` (SecureSession,
Credentials, PeerInfo), `handshake` (SIGMA-style handshake, join mode, SessionPolicy),
`endpoint` (Listener, dial, request_certificate), `mux` (Router, Connection), `peers`
(Transport, Backoff), `certificates` (renewal), `join` (swarm join on the joining node).
"""
