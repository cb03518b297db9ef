"""The fault matrix's runs that end before any deployment state (tests/integration/fault_matrix.py).

Faults in the states up to the approval decision, and the service-error run of the rejected path: none of them
needs the shared endpoint, so they run in a runtime of their own, side by side with the deploying runs.
"""

from __future__ import annotations

import pytest

from tests.integration.fault_matrix import Fault, Results, check_fault, matrix_ids, matrix_of, run_slice

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return run_slice("before-deployment", tmp_path_factory)


@pytest.mark.parametrize(("state", "fault"), matrix_of("before-deployment"), ids=matrix_ids("before-deployment"))
def test_fault(results: Results, state: str, fault: Fault) -> None:
    check_fault(results, state, fault)


def test_no_run_that_ends_before_deployment_creates_an_endpoint(results: Results) -> None:
    # Every run here fails, is rejected, or fails in the approval states: none may get an endpoint.
    assert results.runs, "no run: the check would be vacuous"
    assert [run.outcome.endpoint for run in results.runs.values() if run.outcome] == [None] * len(results.runs)
