"""Errors of onboarding: each names what is wrong with the file or the arguments and what to do about it."""

from __future__ import annotations


class OnboardingError(Exception):
    """Base class: the CSV or the command's arguments cannot produce a configuration."""


class UnreadableDataError(OnboardingError):
    """The file is not a UTF-8, comma-separated CSV with a header row and data rows."""


class TargetColumnNotFoundError(OnboardingError):
    """``--target`` names no column of the CSV."""


class TargetMissingValuesError(OnboardingError):
    """Some rows have no label."""


class TargetNotBinaryError(OnboardingError):
    """The target has one value, or more than two."""


class PositiveLabelNotFoundError(OnboardingError):
    """``--positive-label`` is not a value of the target."""


class TooFewRowsError(OnboardingError):
    """The minority class has too few rows to train on and evaluate."""


class NoUsableFeaturesError(OnboardingError):
    """Every column other than the target was dropped."""


class GeneratedConfigInvalidError(OnboardingError):
    """A bug: the generated configuration does not parse, or the same CSV would fail validation with it."""
