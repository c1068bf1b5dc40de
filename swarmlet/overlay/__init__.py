"""Overlay networks: VXLAN, container attachment, DNS, routing mesh, encrypted data path."""
