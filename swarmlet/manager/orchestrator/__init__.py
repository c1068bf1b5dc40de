"""Orchestrators: replicated, global, jobs, restarts, rolling updates (reconcile steps are pure)."""
