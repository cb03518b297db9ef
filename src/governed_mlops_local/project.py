"""Finding the project checkout (light: imported by every CLI command before anything heavy)."""

from __future__ import annotations

from pathlib import Path

#: The environment variable naming the deployed stack that ``--aws`` reads.
STACK_ENV = "MLOPS_STACK_NAME"


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory (from ``start`` upwards, then the package's own checkout) with template.yaml."""
    candidates = [start or Path.cwd(), Path(__file__).resolve()]
    for candidate in candidates:
        for directory in [candidate, *candidate.parents]:
            if (directory / "template.yaml").is_file() and (directory / "statemachines").is_dir():
                return directory
    raise FileNotFoundError("no template.yaml found here or above; run from the project checkout")
