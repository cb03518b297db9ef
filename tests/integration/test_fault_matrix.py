"""The fault matrix (tests/integration/fault_matrix.py): its coverage, and the cases of the runs that deploy.

The other slices run in test_fault_matrix_before_deployment.py, test_fault_matrix_expiry.py and
test_fault_matrix_champion.py, each in a runtime of its own (a two-worker session runs them side by side).
"""

from __future__ import annotations

import pytest

from tests.integration.fault_matrix import (
    CASES,
    DEFINITION,
    TASKS,
    TWINS,
    Fault,
    Results,
    cases_of,
    check_fault,
    check_the_endpoint_only_ever_serves_approved_models,
    matrix_ids,
    matrix_of,
    run_slice,
    task_states,
)

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return run_slice("deployment", tmp_path_factory)


@pytest.mark.parametrize(("state", "twin"), sorted(TWINS.items()))
def test_a_twin_state_handles_faults_as_its_twin(state: str, twin: str) -> None:
    states = DEFINITION["States"]
    assert state in task_states(DEFINITION)
    for key in ("Type", "Resource", "TimeoutSeconds", "Retry", "Catch", "Next", "ResultSelector", "ResultPath"):
        assert states[state].get(key) == states[twin].get(key), key


def test_the_matrix_covers_every_task_state() -> None:
    # The list comes from the ASL; an empty one would make every case below vacuous.
    assert len(TASKS) >= 20, sorted(TASKS)
    for state in TASKS:
        assert {c.fault for c in CASES if state in c.states} == {"exception", "service", "timeout"}, state


def test_every_case_runs_in_exactly_one_slice() -> None:
    # The four modules together run every case once: a case left out of every slice would never be checked.
    sliced = [case for name in ("deployment", "before-deployment", "expiry", "champion") for case in cases_of(name)]
    assert sorted(case.id for case in sliced) == sorted(case.id for case in CASES)
    # And every slice has cases (a module with none would pass having checked nothing)
    assert all(cases_of(name) for name in ("deployment", "before-deployment", "expiry", "champion"))


@pytest.mark.parametrize(("state", "fault"), matrix_of("deployment"), ids=matrix_ids("deployment"))
def test_fault(results: Results, state: str, fault: Fault) -> None:
    check_fault(results, state, fault)


def test_the_endpoint_only_ever_serves_approved_models(results: Results) -> None:
    check_the_endpoint_only_ever_serves_approved_models(results)
