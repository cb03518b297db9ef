"""Use cases: one function per handler, combining pure domain logic with injected adapters."""
