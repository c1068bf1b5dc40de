"""Command-line interface: argument parsing, one module per command group, output helpers. Imports only the standard library and the API client, so that a command answers fast."""
