"""The parsed-program cache on moto's engine: one parse per definition, validation included, a bound, and
the programs kept on disk for the next runtime."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from governed_mlops_local.moto_speedups import install_program_cache
from governed_mlops_local.program_store import ProgramStore
from tests.waiting import until

ROLE = "arn:aws:iam::123456789012:role/test-statemachine-role"


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every definition moto's ASL parser is asked to parse, in order."""
    seen: list[str] = []
    original = AmazonStateLanguageParser.parse

    def counted(definition: str) -> Any:
        seen.append(definition)
        return original(definition)

    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(counted))
    return seen


def definition(result: str) -> str:
    return json.dumps(
        {"StartAt": "Answer", "States": {"Answer": {"Type": "Pass", "Result": {"answer": result}, "End": True}}}
    )


def run(sfn: Any, machine_arn: str) -> dict[str, Any]:
    execution = sfn.start_execution(stateMachineArn=machine_arn, name=f"run-{uuid.uuid4().hex[:8]}", input="{}")

    def ended() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        return None if described["status"] == "RUNNING" else described

    return dict(until(ended, 30, "the execution to end", poll=0.02))


def create(sfn: Any, text: str) -> str:
    return str(
        sfn.create_state_machine(name=f"m-{uuid.uuid4().hex[:8]}", definition=text, roleArn=ROLE)["stateMachineArn"]
    )


def test_a_created_machine_runs_without_parsing_its_definition_again(sfn: Any, parses: list[str]) -> None:
    undo = install_program_cache()
    try:
        # Given a machine created (its definition validated: parsed once)
        machine = create(sfn, definition("first"))
        # When it runs twice
        outputs = [json.loads(run(sfn, machine)["output"]) for _ in range(2)]
    finally:
        undo()

    # Then both runs evaluated the program, and the definition was parsed only by the validation
    assert outputs == [{"answer": "first"}] * 2
    assert parses == [definition("first")]


def test_the_cache_keeps_only_the_most_recent_definitions(sfn: Any, parses: list[str]) -> None:
    undo = install_program_cache(max_definitions=2)
    try:
        # Given three definitions created in turn: the first one's program is the oldest, and is dropped
        machines = {name: create(sfn, definition(name)) for name in ("a", "b", "c")}
        run(sfn, machines["c"])
        run(sfn, machines["a"])
    finally:
        undo()

    # Then "c" ran from the cache, "a" was parsed again
    assert parses == [definition("a"), definition("b"), definition("c"), definition("a")]


def test_an_invalid_definition_is_refused_as_moto_refuses_it(sfn: Any) -> None:
    invalid = json.dumps({"StartAt": "Nowhere", "States": {"Nowhere": {"Type": "NoSuchType"}}})
    with pytest.raises(ClientError) as without_cache:
        create(sfn, invalid)

    undo = install_program_cache()
    try:
        with pytest.raises(ClientError) as with_cache:
            create(sfn, invalid)
    finally:
        undo()

    assert "ASLParserException" in str(without_cache.value)
    assert str(with_cache.value) == str(without_cache.value)


def test_a_program_parsed_by_one_runtime_is_loaded_by_the_next(sfn: Any, parses: list[str], tmp_path: Path) -> None:
    store = ProgramStore(tmp_path / "programs")
    # Given one "runtime" that created a machine (parsed its definition, kept the program on disk)
    undo = install_program_cache(store=store)
    try:
        create(sfn, definition("kept"))
    finally:
        undo()
    assert store.path(definition("kept")).exists()

    # When a fresh cache (a new process) with the same store creates and runs the same definition
    undo = install_program_cache(store=store)
    try:
        output = json.loads(run(sfn, create(sfn, definition("kept")))["output"])
    finally:
        undo()

    # Then the program ran, parsed only by the first
    assert output == {"answer": "kept"}
    assert parses == [definition("kept")]


def test_a_program_file_others_may_write_is_not_loaded(sfn: Any, parses: list[str], tmp_path: Path) -> None:
    # Given a kept program whose file became group-writable
    store = ProgramStore(tmp_path / "programs")
    store.save(definition("shared"), "not a program")
    store.path(definition("shared")).chmod(0o664)

    # Then it is not unpickled: the definition is parsed and runs
    assert store.load(definition("shared")) is None
    undo = install_program_cache(store=store)
    try:
        output = json.loads(run(sfn, create(sfn, definition("shared")))["output"])
    finally:
        undo()
    assert output == {"answer": "shared"}
    assert parses == [definition("shared")]


def test_a_corrupt_program_file_costs_a_parse_only(sfn: Any, parses: list[str], tmp_path: Path) -> None:
    store = ProgramStore(tmp_path / "programs")
    path = store.path(definition("torn"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x80\x05 torn")
    path.chmod(0o600)

    undo = install_program_cache(store=store)
    try:
        output = json.loads(run(sfn, create(sfn, definition("torn")))["output"])
    finally:
        undo()

    assert output == {"answer": "torn"}
    assert parses == [definition("torn")]
