"""Run a job's main function with SageMaker's failure convention: a reason file and a non-zero exit."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from governed_mlops.errors import JobInputError
from governed_mlops_ml.artifacts import write_failure_reason

__all__ = ["EXIT_FAILURE", "JobArgumentParser", "run_job"]

EXIT_FAILURE = 1


def run_job(job: Callable[[], None], failure_dir: str | None) -> int:
    """Run ``job`` and return the process exit code.

    On failure the reason goes to stderr and, when ``failure_dir`` is given (the job's SM_OUTPUT_DIR),
    to ``failure_dir/failure``, which SageMaker (and the local emulator) report as the job's
    FailureReason. Bad input is reported by its message alone; anything else also gets a traceback.
    """
    try:
        job()
    except JobInputError as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - every failure must reach the failure file
        traceback.print_exc(file=sys.stderr)
        reason = f"unexpected {type(exc).__name__}: {exc}"
    else:
        return 0
    print(f"ERROR: {reason}", file=sys.stderr)
    if failure_dir:
        write_failure_reason(Path(failure_dir), reason)
    return EXIT_FAILURE


class JobArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so a usage error still reaches the failure file.

    Messages start with ``prog`` (the script's name), e.g. ``evaluate.py: the following arguments...``.
    """

    def error(self, message: str) -> NoReturn:
        raise JobInputError(f"{self.prog}: {message}")
