"""Training hyperparameters as SageMaker hands them over: strings, twice.

SageMaker script mode passes the job's hyperparameters both in the ``SM_HPS`` environment variable
(a JSON object) and as ``--name value`` command-line pairs. Values arrive as strings (or JSON scalars
after the training toolkit decodes them), so each known XGBoost parameter is converted to its type
here. Unknown names are refused so a typo fails the job instead of silently training with a default.
``seed`` and ``nthread`` are not hyperparameters: the job config fixes the seed and ``nthread`` is 1
so that two runs produce byte-identical models.

Standard library only: the pipeline configuration checks hyperparameters with these rules before any
data is read, and the training job (inside a SageMaker container, which has this module but no
pydantic) parses them with the same rules.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from governed_mlops.errors import JobInputError

__all__ = [
    "OBJECTIVE",
    "TrainingHyperparameters",
    "hyperparameters_from_command_line",
    "hyperparameters_from_sm_hps",
    "parse_hyperparameters",
    "resolve_hyperparameters",
]

OBJECTIVE = "binary:logistic"
"""The only objective the pipeline accepts: the model must output P(target == positive_label)."""

_TYPES: dict[str, type] = {
    "num_round": int,
    "objective": str,
    "booster": str,
    "tree_method": str,
    "grow_policy": str,
    "sampling_method": str,
    "eval_metric": str,
    "max_depth": int,
    "max_leaves": int,
    "max_bin": int,
    "num_parallel_tree": int,
    "verbosity": int,
    "eta": float,
    "gamma": float,
    "min_child_weight": float,
    "max_delta_step": float,
    "subsample": float,
    "colsample_bytree": float,
    "colsample_bylevel": float,
    "colsample_bynode": float,
    "lambda": float,
    "alpha": float,
    "scale_pos_weight": float,
    "base_score": float,
}

_RESERVED = {
    "seed": "the seed comes from the job config 'seed'",
    "random_state": "the seed comes from the job config 'seed'",
    "nthread": "nthread is fixed to 1 so that models are bit-identical across runs",
    "n_jobs": "nthread is fixed to 1 so that models are bit-identical across runs",
}

# SageMaker's own settings (sagemaker_program, sagemaker_submit_directory, ...) travel with the
# hyperparameters in framework mode; they configure the container, not the model.
_SAGEMAKER_PREFIX = "sagemaker_"


@dataclass(frozen=True)
class TrainingHyperparameters:
    """Typed XGBoost booster parameters (without seed and nthread) and the number of boosting rounds."""

    booster_params: Mapping[str, str | int | float]
    num_round: int

    def to_json_dict(self) -> dict[str, Any]:
        """The resolved hyperparameters as a JSON-able dict (for training metrics and lineage)."""
        return {**dict(sorted(self.booster_params.items())), "num_round": self.num_round}


def parse_hyperparameters(raw: Mapping[str, object]) -> TrainingHyperparameters:
    """Convert raw hyperparameter values (strings or JSON scalars) to their XGBoost types.

    ``num_round`` is required; ``objective`` defaults to, and must be, ``binary:logistic``. Keys
    starting with ``sagemaker_`` are ignored.

    Raises:
        JobInputError: an unknown or reserved name, a value of the wrong type, or a missing ``num_round``.
    """
    values = {name: value for name, value in raw.items() if not name.startswith(_SAGEMAKER_PREFIX)}
    reserved = sorted(set(values) & set(_RESERVED))
    if reserved:
        reasons = "; ".join(f"{name}: {_RESERVED[name]}" for name in reserved)
        raise JobInputError(f"hyperparameters {reserved} may not be set ({reasons})")
    unknown = sorted(set(values) - set(_TYPES))
    if unknown:
        raise JobInputError(f"unknown hyperparameters {unknown}; supported: {sorted(_TYPES)}")
    typed = {name: _convert(name, value, _TYPES[name]) for name, value in values.items()}
    num_round = typed.pop("num_round", None)
    if num_round is None:
        raise JobInputError("hyperparameter 'num_round' (number of boosting rounds) is required")
    if not isinstance(num_round, int) or num_round < 1:
        raise JobInputError(f"hyperparameter 'num_round' must be a positive integer, got {num_round!r}")
    objective = typed.setdefault("objective", OBJECTIVE)
    if objective != OBJECTIVE:
        raise JobInputError(f"hyperparameter 'objective' must be {OBJECTIVE!r}, got {objective!r}")
    return TrainingHyperparameters(booster_params=typed, num_round=num_round)


def hyperparameters_from_sm_hps(sm_hps: str | None) -> dict[str, object]:
    """Decode the ``SM_HPS`` environment variable (a JSON object); absent or empty means none.

    Raises:
        JobInputError: the value is not a JSON object.
    """
    if sm_hps is None or not sm_hps.strip():
        return {}
    try:
        decoded = json.loads(sm_hps)
    except json.JSONDecodeError as exc:
        raise JobInputError(f"SM_HPS is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise JobInputError(f"SM_HPS must be a JSON object, got {type(decoded).__name__}")
    return {str(name): value for name, value in decoded.items()}


def hyperparameters_from_command_line(argv: Sequence[str]) -> dict[str, str]:
    """Read ``--name value`` hyperparameter pairs from the command line.

    Names argparse does not know are still collected as pairs so that :func:`parse_hyperparameters`
    reports them with the same message as an unknown name in ``SM_HPS``.

    Raises:
        JobInputError: an argument is not part of a ``--name value`` pair.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in (*_TYPES, *_RESERVED):
        parser.add_argument(f"--{name}", dest=name, default=None)
    known, extra = parser.parse_known_args(list(argv))
    pairs = {name: value for name, value in vars(known).items() if value is not None}
    if len(extra) % 2 or not all(flag.startswith("--") and len(flag) > len("--") for flag in extra[::2]):
        raise JobInputError(f"unrecognised command line arguments (expected --name value pairs): {extra}")
    for index in range(0, len(extra), 2):
        pairs[extra[index][2:]] = extra[index + 1]
    return pairs


def resolve_hyperparameters(sm_hps: str | None, argv: Sequence[str]) -> TrainingHyperparameters:
    """Merge ``SM_HPS`` and command-line hyperparameters (the command line wins) and type them."""
    merged: dict[str, object] = {
        **hyperparameters_from_sm_hps(sm_hps),
        **hyperparameters_from_command_line(argv),
    }
    return parse_hyperparameters(merged)


def _convert(name: str, value: object, kind: type) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise JobInputError(f"hyperparameter {name!r} must be a {kind.__name__}, got {value!r}")
    if kind is str:
        if not isinstance(value, str) or not value:
            raise JobInputError(f"hyperparameter {name!r} must be a non-empty string, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise JobInputError(f"hyperparameter {name!r} must be an integer, got {value!r}") from None
    try:
        number = float(value)
    except ValueError:
        raise JobInputError(f"hyperparameter {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise JobInputError(f"hyperparameter {name!r} must be finite, got {value!r}")
    return number
