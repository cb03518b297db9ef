"""The fault matrix's runs on the expired-approval path (tests/integration/fault_matrix.py).

They let an approval wait end, so their runtime has a short approval timeout (3 s).
"""

from __future__ import annotations

import pytest

from tests.integration.fault_matrix import Fault, Results, check_fault, matrix_ids, matrix_of, run_slice

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return run_slice("expiry", tmp_path_factory)


@pytest.mark.parametrize(("state", "fault"), matrix_of("expiry"), ids=matrix_ids("expiry"))
def test_fault(results: Results, state: str, fault: Fault) -> None:
    check_fault(results, state, fault)
