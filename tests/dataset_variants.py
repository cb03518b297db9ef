"""New versions of a dataset for tests that need a run whose data differs from the champion's."""

from __future__ import annotations

from governed_mlops_local.dataset_versions import reexported

__all__ = ["reexported"]
