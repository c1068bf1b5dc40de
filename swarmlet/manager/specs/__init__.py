"""Validation and normalisation of API specs, one module per object kind (pure functions)."""
