"""The fault matrix's runs on the champion path (tests/integration/fault_matrix.py).

credit-risk is low risk in their runtime (approved automatically) and already has an approved, deployed version:
the champion each run's challenger is evaluated against.
"""

from __future__ import annotations

import pytest

from tests.integration.fault_matrix import (
    Fault,
    Results,
    check_fault,
    check_the_endpoint_only_ever_serves_approved_models,
    matrix_ids,
    matrix_of,
    run_slice,
)

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return run_slice("champion", tmp_path_factory)


@pytest.mark.parametrize(("state", "fault"), matrix_of("champion"), ids=matrix_ids("champion"))
def test_fault(results: Results, state: str, fault: Fault) -> None:
    check_fault(results, state, fault)


def test_the_endpoint_only_ever_serves_approved_models(results: Results) -> None:
    check_the_endpoint_only_ever_serves_approved_models(results)
