"""One host's part in a swarm: membership (init, join, leave), and the runtimes of its roles."""
