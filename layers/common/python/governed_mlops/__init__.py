"""Governed MLOps shared layer."""
