"""Scheduler: filters, spread and placement preferences, batch placement (pure)."""
