"""The SIGMA-style handshake that turns an open websocket into a `SecureSession`.

    1. client -> server  clear   {v, mode, eph}                      mode: "node" or "join"
    2. server -> client  clear   {eph, box}    box sealed with the server's new key:
                                 {root, cert, sig, issuer?, xsig?}
    3. client -> server  sealed  node: {cert, sig, root?, issuer?, xsig?}
                                 join: {pubkey, sig, token, node_id?, role?}
    4. server -> client  sealed  node: {ok} or {error}   join: {cert} or {error}, then close

Each sig is made with the sender's identity key over its role label, the transcript hash
(message 1 and the server's ephemeral) and what the sender presents (root and certificate, or
certificate, or key and token). During a root rotation a certificate signed by the new root
travels with that root (`issuer`) and the old root's cross-signature of it (`xsig`); the
verifier accepts it when it trusts the new root or the old one that vouches for it
(`security.certs.issuing_root`). Every signature is thus bound to this connection's fresh keys:
a recorded handshake replayed on a new connection fails. The
certificates travel inside sealed boxes (identity protection), and the joining client checks
the root key against its token's fingerprint before it sends the token.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing
import trio_websocket

from swarmlet.security.ca import JoinRefused
from swarmlet.security.certs import (
    Certificate,
    CertificateError,
    issuing_root,
    root_fingerprint,
    verify_certificate,
)
from swarmlet.security.channel import (
    ChannelError,
    Ephemeral,
    FrameOpener,
    FrameSealer,
    session_keys,
    transcript_hash,
)
from swarmlet.security.identity import NodeIdentity, is_node_id
from swarmlet.security.tokens import JoinToken
from swarmlet.wire import codec
from swarmlet.wire.schema import Field, Schema, SchemaError
from swarmlet.wire.session import Credentials, PeerInfo, SecureSession, websocket_address

log = logging.getLogger("swarmlet.wire")

VERSION = 1
HS_MAX = 4096
_K32 = Field(bytes, min_len=32, max_len=32)
_SIG = Field(bytes, min_len=64, max_len=64)
_CERT = Field(bytes, max_len=512)
HELLO = Schema(
    v=Field(int, choices=(VERSION,)), mode=Field(str, choices=("node", "join")), eph=_K32
)
SERVER_HELLO = Schema(eph=_K32, box=Field(bytes, max_len=HS_MAX))
_ISSUER = Field(bytes, min_len=32, max_len=32, optional=True)
_XSIG = Field(bytes, min_len=64, max_len=64, optional=True)
SERVER_AUTH = Schema(root=_K32, cert=_CERT, sig=_SIG, issuer=_ISSUER, xsig=_XSIG)
CLIENT_AUTH = Schema(
    cert=_CERT, sig=_SIG, root=Field(bytes, min_len=32, max_len=32, optional=True),
    issuer=_ISSUER, xsig=_XSIG,
)  # fmt: skip
JOIN_AUTH = Schema(
    pubkey=_K32,
    sig=_SIG,
    token=Field(str, max_len=200),
    node_id=Field(str, max_len=25, optional=True),
    role=Field(str, choices=("worker", "manager"), optional=True),
)
RESULT = Schema(
    ok=Field(bool, optional=True),
    cert=Field(bytes, max_len=512, optional=True),
    error=Field(str, max_len=1000, optional=True),
)

SERVER_LABEL = b"swarmlet handshake v1 server"
CLIENT_LABEL = b"swarmlet handshake v1 client"
JOIN_LABEL = b"swarmlet handshake v1 join"


class HandshakeError(Exception):
    """The handshake failed; the message says why, in words for a log or a user."""


class JoinError(HandshakeError):
    """Joining was refused or is unsafe; the message tells the user what to do."""


# authorize_join(token, node_pubkey, requested_node_id, requested_role) -> Certificate, or
# raise JoinRefused(message for the user). May be sync or async. See security.ca.
JoinAuthorizer = Callable[
    [str, bytes, str | None, str | None], "Certificate | Awaitable[Certificate]"
]


@dataclass(frozen=True)
class SessionPolicy:
    """What a listener accepts: which roles may open a session, and whether joins are served."""

    roles: Container[str] | None = None  # None: any valid certificate
    authorize_join: JoinAuthorizer | None = None


async def _recv(ws: trio_websocket.WebSocketConnection) -> bytes:
    try:
        data = await ws.get_message()
    except trio_websocket.ConnectionClosed as exc:
        reason = exc.reason
        raise HandshakeError(
            f"connection closed during handshake: {reason.reason or reason.code}"
        ) from None
    if not isinstance(data, bytes):
        raise HandshakeError("text message during handshake")
    return data


async def _send(ws: trio_websocket.WebSocketConnection, data: bytes) -> None:
    try:
        await ws.send_message(data)
    except trio_websocket.ConnectionClosed:
        raise HandshakeError("connection closed during handshake") from None


def _parse(schema: Schema, data: bytes, what: str) -> dict:
    try:
        return schema.validate(codec.decode(data, max_depth=3, max_size=HS_MAX), what)
    except (codec.DecodeError, SchemaError) as exc:
        raise HandshakeError(f"malformed {what}: {exc}") from None


def _open(opener: FrameOpener, data: bytes, schema: Schema, what: str) -> dict:
    try:
        plain = opener.open(data)
    except ChannelError as exc:
        raise HandshakeError(f"{what} did not open ({exc}); replayed or forged handshake") from None
    return _parse(schema, plain, what)


def _signed(label: bytes, th: bytes, *presented: bytes) -> bytes:
    """What a side signs: its role label, the transcript, and what it presents (SIGMA)."""
    return label + transcript_hash(th, *presented)


def _check_sig(pubkey: bytes, message: bytes, sig: bytes, who: str) -> None:
    try:
        nacl.signing.VerifyKey(pubkey).verify(message, sig)
    except (nacl.exceptions.BadSignatureError, ValueError):
        raise HandshakeError(
            f"{who} did not prove its identity key (bad transcript signature)"
        ) from None


def _verify(auth: dict, root: bytes, trusted, creds: Credentials, roles) -> Certificate:
    """The peer's certificate, checked against the roots this side trusts (see issuing_root)."""
    try:
        cert = Certificate.from_bytes(auth["cert"])
        try:
            key = issuing_root(root, auth.get("issuer"), auth.get("xsig"), trusted)
        except CertificateError as exc:
            raise CertificateError(f"certificate of node {cert.node_id}: {exc}") from None
        return verify_certificate(cert, key, creds.clock(), creds.revoked, roles)
    except CertificateError as exc:
        raise HandshakeError(str(exc)) from None


def _presented(creds: Credentials) -> dict:
    """What a node shows beside its certificate: the new root that signed it, mid-rotation."""
    if creds.issuer is None or creds.cross_signature is None:
        return {}
    return {"issuer": creds.issuer, "xsig": creds.cross_signature}


def _chain_parts(msg: dict) -> tuple[bytes, bytes]:
    return msg.get("issuer", b""), msg.get("xsig", b"")


async def client_handshake(
    ws: trio_websocket.WebSocketConnection,
    creds: Credentials,
    *,
    expect_roles: Container[str] | None = None,
    expect_node_id: str | None = None,
) -> SecureSession:
    """Authenticate both ways as a cluster node; HandshakeError with the reason otherwise."""
    if creds.certificate is None or creds.root_public_key is None:
        raise HandshakeError("this node has no certificate yet: join a swarm first")
    th, root, server_cert, sealer, opener = await _client_start(ws, "node", creds, expect_roles)
    if expect_node_id is not None and server_cert.node_id != expect_node_id:
        raise HandshakeError(f"expected node {expect_node_id}, reached node {server_cert.node_id}")
    msg = {"cert": creds.certificate.to_bytes(), "root": creds.root_public_key}
    msg.update(_presented(creds))
    signed = _signed(CLIENT_LABEL, th, msg["cert"], msg["root"], *_chain_parts(msg))
    msg["sig"] = creds.identity.signing_key.sign(signed).signature
    await _send(ws, sealer.seal(codec.encode(msg)))
    result = _open(opener, await _recv(ws), RESULT, "handshake result")
    if "error" in result or not result.get("ok"):
        raise HandshakeError(
            f"refused by node {server_cert.node_id}: {result.get('error', 'no reason')}"
        )
    peer = PeerInfo(server_cert.node_id, server_cert.role, server_cert, websocket_address(ws))
    return SecureSession(ws, peer, sealer, opener)


async def client_join(
    ws: trio_websocket.WebSocketConnection,
    identity: NodeIdentity,
    token: JoinToken,
    *,
    requested_role: str | None = None,
    clock=None,
) -> tuple[Certificate, bytes]:
    """Join over a fresh websocket: returns (our certificate, the cluster root public key)."""
    creds = Credentials(identity, None, None, clock=clock or time.time)
    try:
        th, root, server_cert, sealer, opener = await _client_start(
            ws, "join", creds, {"manager"}, pinned_digest=token.root_digest
        )
    except JoinError:
        raise
    except HandshakeError as exc:
        raise JoinError(
            f"the node at this address cannot be trusted to admit us: {exc}. "
            "Join through a manager of the swarm; nothing secret was sent."
        ) from None
    sig = identity.signing_key.sign(
        _signed(JOIN_LABEL, th, identity.public_key, str(token).encode())
    ).signature
    msg = {
        "pubkey": identity.public_key,
        "sig": sig,
        "token": str(token),
        "node_id": identity.node_id,
    }
    if requested_role is not None:
        msg["role"] = requested_role
    await _send(ws, sealer.seal(codec.encode(msg)))
    result = _open(opener, await _recv(ws), RESULT, "join result")
    if "error" in result:
        raise JoinError(result["error"])
    if "cert" not in result:
        raise JoinError("the manager sent no certificate")
    try:
        cert = verify_certificate(Certificate.from_bytes(result["cert"]), root, creds.clock())
    except CertificateError as exc:
        raise JoinError(f"the manager sent an unusable certificate: {exc}") from None
    if cert.pubkey != identity.public_key:
        raise JoinError("the manager sent a certificate for another key")
    return cert, root


async def _client_start(
    ws, mode: str, creds: Credentials, roles, pinned_digest: bytes | None = None
):
    eph = Ephemeral.generate()
    hello = codec.encode({"v": VERSION, "mode": mode, "eph": eph.public})
    await _send(ws, hello)
    reply = _parse(SERVER_HELLO, await _recv(ws), "server hello")
    try:
        rx, tx = session_keys(True, eph, reply["eph"])
    except ChannelError as exc:
        raise HandshakeError(str(exc)) from None
    sealer, opener = FrameSealer(tx), FrameOpener(rx)
    th = transcript_hash(hello, reply["eph"])
    auth = _open(opener, reply["box"], SERVER_AUTH, "server authentication")
    root = auth["root"]
    if pinned_digest is not None and not _ct_equal(root_fingerprint(root), pinned_digest):
        raise JoinError(
            "the manager's cluster root does not match the fingerprint in the join token "
            f"(expected sha256:{pinned_digest.hex()}, got sha256:{root_fingerprint(root).hex()}). "
            "Check that the address is a manager of the swarm the token came from and that "
            "the token is current (rotating the swarm's root CA replaces the join tokens); "
            "nothing secret was sent."
        )
    trusted = (root,) if pinned_digest is not None else creds.trusted_roots()
    server_cert = _verify(auth, root, trusted, creds, roles)
    signed = _signed(SERVER_LABEL, th, auth["root"], auth["cert"], *_chain_parts(auth))
    _check_sig(server_cert.pubkey, signed, auth["sig"], "the server")
    return th, root, server_cert, sealer, opener


async def server_handshake(
    ws: trio_websocket.WebSocketConnection, creds: Credentials, policy: SessionPolicy
) -> SecureSession | None:
    """Authenticate a connecting node. Returns None after serving a join (the socket is done)."""
    if creds.certificate is None or creds.root_public_key is None:
        raise HandshakeError("this node has no certificate and cannot accept sessions")
    hello_bytes = await _recv(ws)
    hello = _parse(HELLO, hello_bytes, "client hello")
    eph = Ephemeral.generate()
    try:
        rx, tx = session_keys(False, eph, hello["eph"])
    except ChannelError as exc:
        raise HandshakeError(str(exc)) from None
    sealer, opener = FrameSealer(tx), FrameOpener(rx)
    th = transcript_hash(hello_bytes, eph.public)
    root = creds.root_public_key
    shown = {"root": root, "cert": creds.certificate.to_bytes(), **_presented(creds)}
    signed = _signed(SERVER_LABEL, th, root, shown["cert"], *_chain_parts(shown))
    shown["sig"] = creds.identity.signing_key.sign(signed).signature
    box = sealer.seal(codec.encode(shown))
    await _send(ws, codec.encode({"eph": eph.public, "box": box}))
    address = websocket_address(ws)

    if hello["mode"] == "join":
        await _serve_join(ws, creds, policy, th, sealer, opener, address)
        return None

    auth = _open(opener, await _recv(ws), CLIENT_AUTH, "client authentication")
    try:
        client_root = auth.get("root", root)
        cert = _verify(auth, client_root, creds.trusted_roots(), creds, policy.roles)
        signed = _signed(CLIENT_LABEL, th, auth["cert"], client_root, *_chain_parts(auth))
        _check_sig(cert.pubkey, signed, auth["sig"], f"node {cert.node_id}")
    except HandshakeError as exc:
        await _send(ws, sealer.seal(codec.encode({"error": str(exc)})))
        raise
    await _send(ws, sealer.seal(codec.encode({"ok": True})))
    return SecureSession(ws, PeerInfo(cert.node_id, cert.role, cert, address), sealer, opener)


async def _serve_join(ws, creds, policy, th, sealer, opener, address) -> None:
    auth = _open(opener, await _recv(ws), JOIN_AUTH, "join request")
    signed = _signed(JOIN_LABEL, th, auth["pubkey"], auth["token"].encode())
    _check_sig(auth["pubkey"], signed, auth["sig"], "the joining node")
    node_id = auth.get("node_id")
    if node_id is not None and not is_node_id(node_id):
        raise HandshakeError("join request with an invalid node ID")
    if policy.authorize_join is None:
        reply = {"error": "this node does not accept joins; join through a manager of the swarm"}
    else:
        try:
            result = policy.authorize_join(auth["token"], auth["pubkey"], node_id, auth.get("role"))
            if inspect.isawaitable(result):
                result = await result
            reply = {"cert": result.to_bytes()}
            log.info("node %s at %s joined as %s", result.node_id, address, result.role)
        except JoinRefused as exc:
            log.warning("join from %s refused: %s", address, exc)
            reply = {"error": str(exc)}
        except Exception:
            log.exception("join from %s failed", address)
            reply = {"error": "the manager failed to issue a certificate; try again later"}
    await _send(ws, sealer.seal(codec.encode(reply)))


def _ct_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
