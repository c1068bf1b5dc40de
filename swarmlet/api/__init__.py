"""Local HTTP/JSON API on the daemon's unix socket (Docker Engine API paths and shapes): server routes on the daemon side, a tiny stdlib client on the CLI side."""
