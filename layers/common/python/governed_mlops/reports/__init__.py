"""Pure renderers: model card, evidence report, approval pages (no I/O)."""
