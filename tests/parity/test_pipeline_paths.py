"""Every pipeline path on the parity stack: template.yaml deployed into moto, handlers with MLOPS_BACKEND=aws.

Each test runs one path end to end through the deployed rules, functions, state machine and SageMaker
integrations, then checks every AWS call it caused against the IAM policies of the role that made it
(function roles, the state machine's role, the SageMaker execution role). A call a role does not
allow fails the test with the role, action and resource named.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from governed_mlops_ml.artifacts import read_dataset
from governed_mlops_ml.serving import ServingModel
from tests.dataset_variants import reexported
from tests.parity.paths import approved_and_deployed, started
from tests.parity.world import GERMAN_CREDIT, MODEL, World, deployed_model, parity_world

# Path (a) is the world's first run, whichever test comes first: it is the account's first .sync SageMaker task (Step
# Functions then creates its managed EventBridge rule as the pipeline's role, events:PutRule) and the run the
# load-bearing-permission test judges.
pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("pushed_and_deployed"), pytest.mark.schedule_early]


class PathA(NamedTuple):
    described: dict[str, Any]
    #: Every AWS call the run caused.
    calls: list[Any]
    #: The endpoint's config right after the run (later tests deploy other runs).
    serving: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with parity_world(tmp_path_factory.mktemp("parity"), "gm-paths") as active:
        yield active
        # The per-role table of every call the module's paths made (all permitted, or a test failed).
        print("\n" + active.checker.table(active.recorder.calls))


@pytest.fixture(scope="module")
def pushed_and_deployed(world: World) -> PathA:
    """Path (a) once per module: a push to main, approved through the API, deployed."""
    world.seed_dataset()
    mark = world.mark()
    execution_arn = started(world.push())
    described = approved_and_deployed(world, execution_arn)
    calls = world.calls_since(mark)
    serving = world.client("sagemaker").describe_endpoint(EndpointName=MODEL)["EndpointConfigName"]
    return PathA(described, calls, serving)


def test_push_to_main_trains_registers_is_approved_and_deploys(world: World, pushed_and_deployed: PathA) -> None:
    # Given a dataset in the data bucket and the release's code and configuration
    # When an engineer pushes to main (CodeCommit's event through the template's rule) and it is approved
    described, calls, serving = pushed_and_deployed

    # Then the run succeeded, the model package is Approved and the endpoint serves this run's config
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    sagemaker = world.client("sagemaker")
    group = MODEL
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert any(p["ModelApprovalStatus"] == "Approved" for p in packages), packages
    assert serving == f"{described['name']}-config"
    # And every call on the way was allowed by the role that made it
    world.checker.assert_all_allowed(calls)


def test_dataset_upload_trains_registers_is_approved_and_deploys(world: World) -> None:
    # Given the release's code and configuration
    mark = world.mark()

    # When an operator uploads a dataset (S3 Object Created through the template's rule)
    deliveries = world.runtime.upload(
        world.data_bucket,
        world.data_key("german_credit_v2.csv"),
        # A new version of the dataset (same rows, new bytes): not an identical retrain of the deployed model.
        reexported(GERMAN_CREDIT.read_bytes(), 1),
        requester=world.stack.account_id,
    )
    execution_arn = started(deliveries)
    described = approved_and_deployed(world, execution_arn, approvers=("dave.risk", "carol.approver"))

    # Then it ran to the end and every call was allowed
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    world.assert_allowed(mark)


def test_failing_step_sends_exactly_one_alert(world: World) -> None:
    # Given a broken dataset (the header row is missing)
    broken = b"1,2,3\n4,5,6\n"
    world.messages(world.alert_queue)  # drain earlier alerts
    mark = world.mark()

    # When it is uploaded, its run fails at Validate Data
    key = world.data_key("broken.csv")
    try:
        execution_arn = started(world.runtime.upload(world.data_bucket, key, broken, requester=world.stack.account_id))
        described = world.runtime.wait(execution_arn)
    finally:
        world.remove_object(world.data_bucket, key)  # later runs train on the newest dataset

    # Then the Execution Monitor publishes exactly one alert for it, naming the state and the error
    assert described["status"] == "FAILED"
    alerts = [m for m in world.messages(world.alert_queue, wait=10) if described["name"] in m["Message"]]
    assert len(alerts) == 1, alerts
    assert "Validate Data" in alerts[0]["Message"]
    # And it is a fault, so it pages on-call: the attributes an SNS filter policy selects on
    attributes = {k: v["Value"] for k, v in alerts[0]["MessageAttributes"].items()}
    assert (attributes["kind"], attributes["outcome"]) == ("alert", "fault")
    world.assert_allowed(mark)


def test_drift_event_for_an_endpoint_no_model_serves_starts_nothing(world: World) -> None:
    event = world.runtime.bus.event(
        "governed-mlops.monitoring",
        "Model Drift Detected",
        {
            "endpoint_name": "someone-elses-endpoint",
            "model_version": "x/1",
            "violations_report": "s3://b/k",
            "drifted_features": [],
            "monitoring_run_id": "mon-x",
        },
    )
    before = world.runtime.sfn.list_executions(stateMachineArn=world.stack.outputs["TrainingPipelineArn"])["executions"]

    # The rule delivers every drift finding; the trigger refuses one for an endpoint no model project serves
    ((delivery),) = world.runtime.bus.put(event)

    assert delivery.error_type == "UnknownModelError", delivery
    assert "someone-elses-endpoint" in str(delivery.error)
    after = world.runtime.sfn.list_executions(stateMachineArn=world.stack.outputs["TrainingPipelineArn"])["executions"]
    assert len(after) == len(before)


def test_redrive_of_a_succeeded_execution_is_refused(world: World, pushed_and_deployed: PathA) -> None:
    from click.testing import CliRunner

    from governed_mlops_local.cli import main

    described = pushed_and_deployed.described
    result = CliRunner().invoke(main, ["redrive", described["name"], "--aws", "--region", world.stack.region])
    assert result.exit_code != 0
    assert "ExecutionNotRedrivable" in result.output or "cannot be redriven" in result.output, result.output


#: Permissions the reviewers of the production-path issue named, by role logical id and action: each one a
#: path needs, so removing it from template.yaml must fail the tier (checked below with the path's calls).
_KNOWN_NEEDED = {
    ("RequestApprovalFunctionRole", "dynamodb:Query"),
    # A push packs its commit (read through CodeCommit) instead of pinning the release's job code.
    ("PrepareDataFunctionRole", "codecommit:GetFolder"),
    ("PrepareDataFunctionRole", "codecommit:GetFile"),
    ("TrainingPipelineRole", "iam:PassRole"),
    ("TrainingPipelineRole", "events:PutRule"),
    ("ApprovalApiFunctionRole", "states:SendTaskSuccess"),
    ("SageMakerExecutionRole", "s3:PutObject"),
    ("TriggerFunctionRole", "states:StartExecution"),
    ("ExecutionMonitorFunctionRole", "kms:GenerateMac"),
}


def _without(documents: list[tuple[str, dict[str, Any]]], policy: int, statement: int, action: str) -> list[Any]:
    """The role's policies with ``action`` taken out of one statement (the statement goes if it was its only one)."""
    import copy

    changed = copy.deepcopy(documents)
    statements = changed[policy][1]["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    actions = statements[statement]["Action"]
    remaining = [a for a in (actions if isinstance(actions, list) else [actions]) if a != action]
    if remaining:
        statements[statement]["Action"] = remaining
    else:
        del statements[statement]
    changed[policy][1]["Statement"] = statements
    return changed


def test_removing_any_permission_a_path_needs_fails_the_check(world: World, pushed_and_deployed: PathA) -> None:
    """For every Allow action of every role that path (a) used: without it, are the path's calls still allowed?"""
    calls = pushed_and_deployed.calls
    # A role's Ref is its name: role name -> template logical id.
    logical = {world.stack.ref(lid): lid for lid in world.stack.physical_ids if lid.endswith("Role")}
    roles = sorted({c.principal for c in calls})
    needed: set[tuple[str, str]] = set()
    unused: list[str] = []
    policies = {role: world.stack.role_policy_documents(role) for role in roles}
    for role in roles:
        own = [c for c in calls if c.principal == role]
        role_id = logical.get(role.rsplit("/", 1)[-1], role)
        documents = policies[role]
        for p, (name, document) in enumerate(documents):
            statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
            for s, statement in enumerate(statements):
                if statement.get("Effect") != "Allow":
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                for action in actions:
                    mutated = _without(documents, p, s, action)
                    checker = world.checker.with_policies(
                        lambda r, m=mutated, me=role: m if r == me else world.stack.role_policy_documents(r)
                    )
                    if checker.failures(own):
                        needed.add((role_id, action))
                    else:
                        unused.append(f"{role_id}: {name} {statement.get('Sid', '#' + str(s))} {action}")
    # Then every permission the reviewers named is load-bearing, and every role the path used has some
    print("\nnot needed by path (a) (used by other paths, by AWS itself, or superfluous):\n  " + "\n  ".join(unused))
    assert _KNOWN_NEEDED - needed == set(), sorted(_KNOWN_NEEDED - needed)
    for role in roles:
        assert any(lid == logical.get(role.rsplit("/", 1)[-1]) for lid, _ in needed), role


def test_release_step_published_the_job_code_and_configuration(world: World) -> None:
    # Given the stack after `mlops package-jobs --aws --stack NAME` (the world's set-up ran it)
    from governed_mlops_local.packaging import build_sourcedir
    from tests.parity.world import PROJECT_DIR

    s3 = world.client("s3")
    bucket, parameters = world.artifacts_bucket, world.stack.parameters

    # When the two objects the pipeline reads are fetched
    code = s3.get_object(Bucket=bucket, Key=parameters["TrainingSourceKey"])
    config = s3.get_object(Bucket=bucket, Key=f"{parameters['ModelsPrefix']}{MODEL}/config.yaml")

    # Then they are this checkout's job code and configuration, encrypted with the stack's key
    assert code["Body"].read() == build_sourcedir(PROJECT_DIR)
    assert config["Body"].read() == (PROJECT_DIR / "models" / MODEL / "config.yaml").read_bytes()
    assert code["ServerSideEncryption"] == "aws:kms"


#: What the SageMaker XGBoost container does with a script-mode model: import SAGEMAKER_PROGRAM from
#: SAGEMAKER_SUBMIT_DIRECTORY, call model_fn on /opt/ml/model once, then input_fn, predict_fn and
#: output_fn per request. Run in a fresh interpreter whose first import path is the archive's code/.
_CONTAINER = """
import importlib, json, os, sys
submit = os.environ["SAGEMAKER_SUBMIT_DIRECTORY"]
sys.path.insert(0, submit)
module = importlib.import_module(os.environ["SAGEMAKER_PROGRAM"].removesuffix(".py"))
import governed_mlops_ml
assert governed_mlops_ml.__file__.startswith(submit), governed_mlops_ml.__file__
model = module.model_fn(sys.argv[1])
body, content_type, accept = sys.stdin.read(), "application/json", "application/json"
answer, answer_type = module.output_fn(module.predict_fn(module.input_fn(body, content_type), model), accept)
sys.stdout.write(json.dumps({"body": answer.decode(), "content_type": answer_type}))
"""


def test_the_deployed_model_answers_with_reason_codes_as_the_container_would_call_it(
    world: World, pushed_and_deployed: PathA, tmp_path: Path
) -> None:
    # Given the model the pushed run deployed, as CreateModel described it to SageMaker
    described = pushed_and_deployed.described
    sagemaker, s3 = world.client("sagemaker"), world.client("s3")
    model_dir, environment = deployed_model(sagemaker, s3, f"{described['name']}-model", tmp_path / "opt-ml-model")
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"

    # When the container serves an applicant from the archive's own code (nothing from this checkout)
    frame = read_dataset(GERMAN_CREDIT)
    features = json.loads((model_dir / "feature_spec.json").read_text())
    names = [*features["numeric_features"], *(f["name"] for f in features["categorical_features"])]
    body = json.dumps({"instances": [{name: str(frame.iloc[row][name]) for name in names} for row in (0, 1)]})
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        **environment,
        "SAGEMAKER_SUBMIT_DIRECTORY": str(model_dir / "code"),
    }
    served = subprocess.run(
        [sys.executable, "-c", _CONTAINER, str(model_dir)],
        input=body,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert served.returncode == 0, served.stderr
    # The container's stdout: the request's behaviour metric line (the endpoint's log), then the answer
    *logged, last = served.stdout.splitlines()
    answer = json.loads(last)
    assert [json.loads(line)["PredictedRows"] for line in logged] == [2]

    # Then it answers with score, decision, threshold, the registered version and reason codes
    assert answer["content_type"] == "application/json"
    predictions = json.loads(answer["body"])["predictions"]
    assert len(predictions) == 2
    registered = environment["MLOPS_MODEL_VERSION"]
    packages = sagemaker.list_model_packages(ModelPackageGroupName=MODEL)["ModelPackageSummaryList"]
    status = {f"{MODEL}/{p['ModelPackageVersion']}": p["ModelApprovalStatus"] for p in packages}
    assert status.get(registered) == "Approved", (registered, status)
    for prediction in predictions:
        assert prediction["model_version"] == registered
        assert prediction["decision"] == ("approve" if prediction["score"] >= prediction["threshold"] else "deny")
        assert all(r["contribution"] < 0 and r["text"] for r in prediction["reasons"])
    # And the local endpoint's code gives the very same answer for the same archive and environment
    local = ServingModel.load(model_dir, environment).respond(body.encode(), "application/json", "application/json")
    assert local.body.decode() == answer["body"]
