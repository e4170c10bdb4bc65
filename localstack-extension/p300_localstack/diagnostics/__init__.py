"""Opt-in diagnostics of the LocalStack process (off unless their variable is set)."""
