"""New versions of a dataset with the same rows (for ``mlops demo`` and the tests)."""

from __future__ import annotations

__all__ = ["reexported"]


def reexported(data: bytes, variant: int = 1) -> bytes:
    """The same rows in new bytes, as a re-export of the file would give: the header's column names
    whose bit is set in ``variant`` (bit 0 for the first column) are quoted, which CSV reads as the
    same names; every variant gives other bytes.

    The data's sha256 differs (the run is not an identical retrain of the champion), but the split,
    the trained model and its metrics are exactly the champion's, so the champion gate passes.
    """
    header, newline, rest = data.partition(b"\n")
    names = header.split(b",")
    if not 1 <= variant < 2 ** len(names):
        raise ValueError(f"variant must be 1..{2 ** len(names) - 1}")
    quoted = [b'"' + name + b'"' if variant >> n & 1 else name for n, name in enumerate(names)]
    return b",".join(quoted) + newline + rest
