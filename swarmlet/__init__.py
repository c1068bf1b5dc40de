"""swarmlet: Docker Swarm mode as one file."""

__version__ = "0.1.0"
