"""Onboarding a new tabular credit dataset: infer a commented ``models/<name>/config.yaml`` from its CSV.

``mlops models add NAME --data FILE --target COLUMN --positive-label VALUE`` runs this on a CSV it
has never seen. Every decision is derived from the data by a rule stated here and written into the
configuration as a YAML comment, so a reviewer reads why each column is (not) a feature, how its
missing values are treated, which limits validation applies, and which groups the bias gate compares.

Pure: bytes in, text out; no file system, no clock (the caller passes the date). The CSV is read the
way the Validate Data stage reads it (UTF-8 with an optional BOM, every field a string, blank lines
skipped, :func:`governed_mlops.domain.validation.is_missing` for missing values), so the limits
chosen here are the ones that stage checks, and :func:`check_generated_config` runs that very stage
on the same bytes before anything is written.

Policy numbers (the quality gates, the bias policy) are fixed here, never fitted to the data: a limit
derived from the data it is meant to judge would pass whatever the data shows. The one limit that reads
the data is the bias gate's "no amplification" bound where the historic labels already breach the
four-fifths rule: it is derived from the labels but judges the model, which fails it by being more
disparate than those labels (plus a bounded tolerance), and the command asks a person to review it.

The steps, one module each, in the order :func:`onboard` runs them:

- :mod:`.table` reads the CSV (:func:`read_table`);
- :mod:`.inference` checks the target and builds the :class:`Proposal` (:func:`infer`), asking
  :mod:`.columns` about each column (feature or dropped, and why) and :mod:`.facets` about each
  protected attribute (bias facet and its limits, :func:`di_limit`, :func:`dppl_limit`);
- :mod:`.render` writes the proposal as commented YAML (:func:`render_config`) with :mod:`.yaml_writer`;
- :mod:`.generate` runs them all and checks the result (:func:`onboard`, :func:`check_generated_config`).

:mod:`.rules` holds the thresholds, :mod:`.proposal` the data classes, :mod:`.errors` the named errors.
This package re-exports the public names, so callers import from ``governed_mlops_local.onboarding``.
"""

from governed_mlops_local.onboarding.errors import (
    GeneratedConfigInvalidError,
    NoUsableFeaturesError,
    OnboardingError,
    PositiveLabelNotFoundError,
    TargetColumnNotFoundError,
    TargetMissingValuesError,
    TargetNotBinaryError,
    TooFewRowsError,
    UnreadableDataError,
)
from governed_mlops_local.onboarding.facets import di_limit, dppl_limit
from governed_mlops_local.onboarding.generate import check_generated_config, onboard
from governed_mlops_local.onboarding.inference import infer
from governed_mlops_local.onboarding.proposal import BiasLimit, DroppedColumn, FacetProposal, Feature, Limit, Proposal
from governed_mlops_local.onboarding.render import render_config
from governed_mlops_local.onboarding.rules import (
    AMPLIFICATION_TOLERANCE,
    FOUR_FIFTHS,
    MIN_FACET_HOLDOUT_ROWS,
    MIN_MINORITY_ROWS,
)
from governed_mlops_local.onboarding.table import Table, read_table

__all__ = [
    "AMPLIFICATION_TOLERANCE",
    "FOUR_FIFTHS",
    "MIN_FACET_HOLDOUT_ROWS",
    "MIN_MINORITY_ROWS",
    "BiasLimit",
    "DroppedColumn",
    "FacetProposal",
    "Feature",
    "GeneratedConfigInvalidError",
    "Limit",
    "NoUsableFeaturesError",
    "OnboardingError",
    "PositiveLabelNotFoundError",
    "Proposal",
    "Table",
    "TargetColumnNotFoundError",
    "TargetMissingValuesError",
    "TargetNotBinaryError",
    "TooFewRowsError",
    "UnreadableDataError",
    "check_generated_config",
    "di_limit",
    "dppl_limit",
    "infer",
    "onboard",
    "read_table",
    "render_config",
]
