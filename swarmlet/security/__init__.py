"""Keys, join tokens, node certificates, channel crypto, autolock, key rotation."""
