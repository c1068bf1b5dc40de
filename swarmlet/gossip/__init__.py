"""SWIM membership with Lifeguard: sans-I/O core, trio runner."""
