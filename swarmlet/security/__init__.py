"""Keys, join tokens, node certificates, channel crypto.

- `identity`: `NodeIdentity` (Ed25519 key + 25-char base36 node ID), `load_or_create_identity(data_dir)`
  (file mode 0600, made at first start).
- `certs`: `ClusterRoot` (generate / to_bytes / from_bytes / issue), `Certificate` (canonical CBOR
  body + root signature; to_bytes / from_bytes), `verify_certificate(cert, root_pub, now, revoked,
  roles)`, `renewal_time(cert, rng)` / `renewal_due(cert, now, rng)` (random 50-80 % of lifetime),
  `RevocationSet`, `root_fingerprint`; root rotation: `ClusterRoot.cross_sign(new_root)`, `vouches`,
  `issuing_root(root, issuer, cross_signature, trusted)` (which root a presented certificate is
  checked against).
- `tokens`: `JoinToken` (str() is Docker's SWMTKN-1 format), `parse_token`, `new_token`,
  `tokens_equal` (constant time), `JoinTokens` (worker + manager; `rotate(role)`, `role_for(text)`),
  `TokenError` (messages tell the user what to do).
- `ca`: `CertificateAuthority.authorize_join(token, node_pubkey, requested_node_id, requested_role)`
  (the wire's join callback) and `.renew(cert)`; `JoinRefused`.
- `bootstrap`: `init_cluster(data_dir, now)` -> NewCluster(root, tokens, identity, certificate).
- `node_files`: `save_membership` / `load_membership` / `forget_membership` (cert + root key on disk),
  `save_rotation_trust` / `load_rotation_trust` (the extra root and cross-signature mid-rotation).
- `channel`: X25519 session keys (`crypto_kx`), `FrameSealer` / `FrameOpener` (XChaCha20-Poly1305
  with counter nonces), `transcript_hash`.

Everything here is pure (time is passed in) except the file helpers.
"""
