"""The rules of onboarding. Each constant is quoted in the comments of the generated file, so changing one
changes the text.

Policy numbers (the quality gates, the bias policy) are fixed here, never fitted to the data.
"""

from __future__ import annotations

from typing import Final

#: Fewer minority-class rows than this cannot be split into training and a hold-out that means anything.
MIN_MINORITY_ROWS: Final = 20
#: Below this many minority rows the hold-out metrics are noisy: a warning, not an error.
FEW_MINORITY_ROWS: Final = 100
#: A feature missing in more than this share of rows carries more gaps than values: dropped.
MAX_FEATURE_MISSING: Final = 0.5
#: Categorical features missing in at most this share are imputed with the mode; above it, kept missing.
IMPUTE_MODE_UP_TO: Final = 0.05
#: Categories above this count make a one-hot block too wide and too sparse to learn from: dropped.
MAX_CATEGORIES: Final = 100
#: A categorical whose distinct values exceed this share of its rows (and 20 values) is nearly unique per row.
MOSTLY_UNIQUE_SHARE: Final = 0.5
#: A column whose present values are numbers but for at most this many distinct text tokens ("?", "n/k")
#: covering at most 1 - MIN_NUMERIC_SHARE of its rows is a numeric column with odd missing markers.
MAX_TEXT_MARKERS: Final = 3
MIN_NUMERIC_SHARE: Final = 0.9
#: Integer columns with at most this many distinct values are "codes"; the typing comment says so.
FEW_LEVELS: Final = 10
#: Ranges are widened by this share of the observed span on each side.
RANGE_MARGIN: Final = 0.5
#: Canary approval-rate band around the observed positive-label rate (absolute points).
CANARY_BAND: Final = 0.2
#: A feature whose majority label per value matches the target this often is flagged as a likely leak.
NEAR_LEAK_AGREEMENT: Final = 0.99
#: Applicants this old or younger form the age facet (the convention of the credit-risk config and Clarify examples).
AGE_THRESHOLD: Final = 25

# Bias limits. The gate acts on the model's outcomes: the post-training DI and DPPL of the hold-out. Label
# metrics (DPL and the other pre-training metrics) describe the historic decisions the model learns from: they
# are computed and shown to approvers in the evidence report, never gated by a generated configuration.

#: Fair-lending policy for the model's outcomes, identical for every facet: DI is the four-fifths rule (and its
#: reciprocal, 1.25, for the other direction); DPPL allows a 20-point gap in predicted approval rates.
FOUR_FIFTHS: Final[dict[str, tuple[float, float]]] = {
    "DPPL": (-0.2, 0.2),
    "DI": (0.8, 1.25),
}
#: Where the historic labels already breach FOUR_FIFTHS, the limit is "no amplification": the model may be no
#: more disparate than the labels it learns from, plus at most this much for the noise of a hold-out of a few
#: dozen rows per group (one standard error of DI at 30 rows a side with a 70% approval rate is about 0.1).
AMPLIFICATION_TOLERANCE: Final = 0.1
#: DI and DPPL are gated only when each side of the facet expects at least this many hold-out rows
#: (rows x split.test_fraction). At 30 rows one applicant moves a group's approval rate by 3.3 points and its
#: standard error is up to 9 points; with fewer, a gate would pass or refuse a model by chance.
MIN_FACET_HOLDOUT_ROWS: Final = 30
#: Between MIN_FACET_HOLDOUT_ROWS and this many expected hold-out rows a side, the gated metrics are still noisy.
SMALL_FACET_HOLDOUT_ROWS: Final = 50
#: A label gap (DPL) beyond this is announced as large: the model will learn it (reported, not gated).
LARGE_LABEL_GAP: Final = 0.2
#: Metrics bounds are rounded outward to this many decimals (adds at most 0.001 to a tolerance).
LIMIT_DECIMALS: Final = 3

#: Training settings of the credit-risk model: shallow trees, moderate learning rate, row/column sampling.
HYPERPARAMETERS: Final[dict[str, str | int | float]] = {
    "objective": "binary:logistic",
    "max_depth": 3,
    "eta": 0.1,
    "num_round": 150,
    "subsample": 0.9,
    "colsample_bytree": 0.8,
    "min_child_weight": 2,
}
SPLIT_SEED: Final = 42
TRAINING_SEED: Final = 7
TEST_FRACTION: Final = 0.25
#: Quality gates: real minimums for a credit scorecard, not read off this data (0.5 AUC is a coin toss).
MIN_AUC: Final = 0.6
MIN_KS: Final = 0.15
