"""A multi-host lab on one machine: network namespaces, one dockerd per host, a registry."""
