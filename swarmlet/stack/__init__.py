"""Compose files to service, network, secret and config specs."""
