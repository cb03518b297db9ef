"""moto_speedups: the task client cache (reused per region, service and role, never across roles) and the JSONPath
cache (each distinct path parsed once)."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_sns,
)
from moto.stepfunctions.parser.asl.eval import states
from moto.stepfunctions.parser.asl.utils import boto_client, json_path

from governed_mlops_local.moto_speedups import (
    install_json_copy,
    install_json_path_cache,
    install_task_client_cache,
    json_deepcopy,
)

REGION = "eu-west-1"
PIPELINE_ROLE = StateCredentials(role_arn="arn:aws:iam::123456789012:role/pipeline-state-machine")
OTHER_ROLE = StateCredentials(role_arn="arn:aws:iam::123456789012:role/another-state-machine")


def _factory(module: ModuleType) -> Any:
    """The client factory a moto module calls (moto's modules import it by name, without re-exporting it)."""
    return getattr(module, "boto_client_for")  # noqa: B009 - mypy: not an explicit export of these modules


@pytest.fixture
def cache() -> Iterator[None]:
    undo = install_task_client_cache()
    try:
        yield
    finally:
        undo()


@pytest.mark.usefixtures("cache")
def test_a_task_reuses_the_client_of_an_earlier_task_with_the_same_role() -> None:
    # Given: the interpreter passes the execution role to every task (moto never passes None)
    first = _factory(lambda_eval_utils)(region=REGION, service="lambda", state_credentials=PIPELINE_ROLE)
    # When: a later task of the same role and service asks again (a new but equal credentials object)
    second = _factory(lambda_eval_utils)(
        region=REGION, service="lambda", state_credentials=StateCredentials(role_arn=PIPELINE_ROLE.role_arn)
    )
    # Then: it gets the same client
    assert second is first


@pytest.mark.usefixtures("cache")
def test_a_state_of_another_role_never_gets_that_client() -> None:
    mine = _factory(lambda_eval_utils)(region=REGION, service="lambda", state_credentials=PIPELINE_ROLE)
    theirs = _factory(lambda_eval_utils)(region=REGION, service="lambda", state_credentials=OTHER_ROLE)
    assert theirs is not mine


@pytest.mark.usefixtures("cache")
def test_clients_are_kept_apart_by_service_and_region() -> None:
    lambda_client = _factory(lambda_eval_utils)(region=REGION, service="lambda", state_credentials=PIPELINE_ROLE)
    sns_client = _factory(lambda_eval_utils)(region=REGION, service="sns", state_credentials=PIPELINE_ROLE)
    elsewhere = _factory(lambda_eval_utils)(region="us-east-1", service="lambda", state_credentials=PIPELINE_ROLE)
    assert sns_client.meta.service_model.service_name == "sns"
    assert elsewhere.meta.region_name == "us-east-1"
    assert len({id(lambda_client), id(sns_client), id(elsewhere)}) == 3


@pytest.mark.usefixtures("cache")
def test_aws_sdk_and_service_integrations_use_the_cache_too() -> None:
    # The pipeline's aws-sdk tasks (alarms, log groups, SageMaker models) import the factory by name.
    for module in (state_task_service_aws_sdk, state_task_service_sns):
        assert _factory(module) is _factory(lambda_eval_utils)
        assert _factory(module) is not _factory(boto_client)


def test_undo_restores_moto_s_factory_everywhere_and_a_second_install_changes_nothing() -> None:
    undo = install_task_client_cache()
    try:
        cached = _factory(lambda_eval_utils)
        install_task_client_cache()()  # installing again, then undoing that, leaves the first install in place
        assert _factory(lambda_eval_utils) is cached
    finally:
        undo()
    for module in (lambda_eval_utils, state_task_service_aws_sdk, state_task_service_sns):
        assert _factory(module) is _factory(boto_client)


def _parse(module: ModuleType) -> Any:
    """The JSONPath parse function a moto module calls (imported by name, not re-exported)."""
    return getattr(module, "parse")  # noqa: B009 - mypy: not an explicit export of these modules


@pytest.fixture
def json_path_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every JSONPath moto's interpreter asks jsonpath_ng to parse (extract_json and ResultPath), in order."""
    seen: list[str] = []
    for module in (json_path, result_path):
        original = _parse(module)

        def counted(path: str, _original: Any = original) -> Any:
            seen.append(path)
            return _original(path)

        monkeypatch.setattr(module, "parse", counted)
    return seen


def test_each_distinct_json_path_is_parsed_once_and_finds_what_a_fresh_parse_finds(json_path_parses: list[str]) -> None:
    data = {"detail": {"bucket": {"name": "raw"}, "object": {"key": "datasets/a.csv"}}, "rows": [{"v": 1}, {"v": 2}]}
    expected = [json_path.extract_json(path, data) for path in ("$.detail.bucket.name", "$.rows[*].v", "$.rows[1]")]
    json_path_parses.clear()
    undo = install_json_path_cache()
    try:
        found = [json_path.extract_json(path, data) for path in ("$.detail.bucket.name", "$.rows[*].v", "$.rows[1]")]
        again = [json_path.extract_json(path, data) for path in ("$.detail.bucket.name", "$.rows[*].v", "$.rows[1]")]
        updated = _parse(result_path)("$.result").update_or_create({"input": 1}, {"ok": True})
        assert _parse(result_path)("$.result").update_or_create({"input": 2}, {"ok": False}) == {
            "input": 2,
            "result": {"ok": False},
        }
    finally:
        undo()
    assert found == again == expected == ["raw", [1, 2], {"v": 2}]
    assert updated == {"input": 1, "result": {"ok": True}}
    assert json_path_parses == ["$.detail.bucket.name", "$.rows[*].v", "$.rows[1]", "$.result"]


def test_undoing_the_json_path_cache_restores_moto_s_parse_and_a_second_install_changes_nothing() -> None:
    originals = (_parse(json_path), _parse(result_path))
    undo = install_json_path_cache()
    cached = (_parse(json_path), _parse(result_path))
    try:
        assert cached != originals
        install_json_path_cache()()  # installed already: its undo must not remove the first install's cache
        assert (_parse(json_path), _parse(result_path)) == cached
    finally:
        undo()
    assert (_parse(json_path), _parse(result_path)) == originals


def test_a_json_copy_equals_the_data_and_shares_nothing_mutable_with_it() -> None:
    data = {"detail": {"rows": [1, 2.5, "x", True, None], "nested": [{"a": []}]}, "empty": {}}
    copied = json_deepcopy(data)
    assert copied == data == copy.deepcopy(data)
    copied["detail"]["rows"].append("more")
    copied["detail"]["nested"][0]["a"].append(1)
    copied["empty"]["k"] = "v"
    assert data == {"detail": {"rows": [1, 2.5, "x", True, None], "nested": [{"a": []}]}, "empty": {}}


def test_values_that_are_not_json_are_deep_copied_as_before() -> None:
    stamp = datetime(2026, 12, 6, tzinfo=UTC)
    ordered = OrderedDict(b=[1])
    pair = (1, [2])
    copied = json_deepcopy({"when": stamp, "ordered": ordered, "pair": pair})
    assert copied == {"when": stamp, "ordered": ordered, "pair": pair}
    assert type(copied["ordered"]) is OrderedDict
    assert copied["ordered"]["b"] is not ordered["b"]
    assert copied["pair"][1] is not pair[1]


def test_moto_copies_state_data_as_json_once_installed_and_as_before_after_undo() -> None:
    undo = install_json_copy()
    try:
        assert all(module.copy.deepcopy is json_deepcopy for module in (states, string_expression, result_path))
        install_json_copy()()  # installed already: its undo must not remove the first install
        assert getattr(states, "copy").deepcopy is json_deepcopy  # noqa: B009
    finally:
        undo()
    assert all(getattr(module, "copy") is copy for module in (states, string_expression, result_path))  # noqa: B009
