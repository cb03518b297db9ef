"""Function settings: read once from the environment, failing loudly with the VARIABLE's name."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from governed_mlops.errors import ConfigError
from governed_mlops.settings import (
    AuditLedgerSettings,
    ChampionSettings,
    FunctionSettings,
    MonitorSettings,
    PrepareSettings,
    RegisterSettings,
    StageSettings,
    TriggerSettings,
)
from tests.unit.test_handler_wiring import dependencies_class

REPO_ROOT = Path(__file__).resolve().parents[2]

AWS_ENVIRON = {
    "MLOPS_BACKEND": "aws",
    "AWS_REGION": "eu-west-1",
    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:111122223333:stateMachine:TrainingPipeline",
    "DATA_BUCKET": "data-bucket",
    "DATA_PREFIX": "datasets/",
    "ARTIFACTS_BUCKET": "artifacts-bucket",
    "MODELS_PREFIX": "models/",
    "MAIN_BRANCH": "main",
    "CODE_REPOSITORY": "model-projects",
    "TRAINING_SOURCE_URI": "s3://artifacts-bucket/code/sourcedir.tar.gz",
    "MODEL_PACKAGE_GROUP": "credit-risk",
    "REGISTRY_TABLE": "registry-table",
    "APPROVALS_TABLE": "approvals-table",
    "APPROVAL_RETENTION_DAYS": "2557",
    "SIGNING_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:approval-signing",
    "APPROVAL_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:approvals",
    "APPROVAL_API_URL": "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
    "APPROVER_GROUP": "model-approvers",
    "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:alerts",
    "HISTORY_URL_TEMPLATE": "https://console.example/executions/{arn}",
    "AUDIT_BUCKET": "audit-bucket",
    "AUDIT_MAC_KEY_ID": "arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8899-aabbccddeeff",
    "APPROVER_USER_POOL_ID": "eu-west-1_Approvers",
    "APPROVAL_CLIENT_NAME": "approval-login",
    "LOGIN_DOMAIN_URL": "https://governed-mlops-111122223333.auth.eu-west-1.amazoncognito.com",
    "SESSION_SECONDS": "900",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::111122223333:role/sagemaker-jobs",
    "PROCESSING_IMAGE": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
    "PROCESSING_INSTANCE_TYPE": "ml.t3.medium",
    "KMS_KEY_ARN": "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555",
    "SAGEMAKER_SECURITY_GROUP_ID": "sg-0123456789abcdef0",
    "SUBNET_IDS": "subnet-0a,subnet-0b",
    # What else a Lambda environment holds; settings ignore it.
    "AWS_LAMBDA_FUNCTION_NAME": "trigger",
    "POWERTOOLS_SERVICE_NAME": "governed-mlops",
}


def _all_settings_classes(base: type[FunctionSettings]) -> list[type[FunctionSettings]]:
    found: list[type[FunctionSettings]] = []
    for sub in base.__subclasses__():
        found += [sub, *_all_settings_classes(sub)]
    return found


# Every settings class of the layer, so a new function's settings are covered without editing this test.
SETTINGS_CLASSES: list[type[FunctionSettings]] = sorted(
    set(_all_settings_classes(FunctionSettings)), key=lambda c: c.__name__
)
assert {TriggerSettings, StageSettings, PrepareSettings, RegisterSettings} <= set(SETTINGS_CLASSES)


def required_variables(settings_class: type[FunctionSettings]) -> list[str]:
    return [name.upper() for name, info in settings_class.model_fields.items() if info.is_required()]


REQUIRED = [(cls, variable) for cls in SETTINGS_CLASSES for variable in required_variables(cls)]


def without(variable: str) -> dict[str, str]:
    return {name: value for name, value in AWS_ENVIRON.items() if name != variable}


def test_every_settings_class_requires_something() -> None:
    # Guards the parametrisation below against an empty (vacuous) list of cases.
    assert all(required_variables(cls) for cls in SETTINGS_CLASSES)


@pytest.mark.parametrize(
    ("settings_class", "variable"), REQUIRED, ids=[f"{cls.__name__}-{variable}" for cls, variable in REQUIRED]
)
def test_missing_variable_is_named_in_upper_case(settings_class: type[FunctionSettings], variable: str) -> None:
    # Given a complete environment but for one variable
    environ = without(variable)

    # When the function's settings are read
    with pytest.raises(ConfigError) as caught:
        settings_class.from_environ(environ)

    # Then the error names the environment variable, as it is spelt in the template
    assert f"{variable}: Field required" in str(caught.value)


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        TriggerSettings.from_environ({})

    assert re.findall(r"([A-Z_]+): Field required", str(caught.value)) == required_variables(TriggerSettings)


@pytest.mark.parametrize("settings_class", SETTINGS_CLASSES, ids=[cls.__name__ for cls in SETTINGS_CLASSES])
def test_complete_aws_environment_parses(settings_class: type[FunctionSettings]) -> None:
    settings = settings_class.from_environ(AWS_ENVIRON)

    assert (settings.mlops_backend, settings.aws_region, settings.mlops_local_root) == ("aws", "eu-west-1", None)


def test_trigger_settings_read_every_field_from_its_variable() -> None:
    settings = TriggerSettings.from_environ(AWS_ENVIRON | {"LOCAL_GIT_DIR": "/srv/repo"})

    assert settings.state_machine_arn == AWS_ENVIRON["STATE_MACHINE_ARN"]
    assert (settings.data_bucket, settings.data_prefix) == ("data-bucket", "datasets/")
    assert (settings.artifacts_bucket, settings.models_prefix) == ("artifacts-bucket", "models/")
    assert (settings.main_branch, settings.code_repository) == ("main", "model-projects")
    assert settings.local_git_dir == Path("/srv/repo")


def test_champion_settings_read_the_registry_table_and_the_ledger() -> None:
    settings = ChampionSettings.from_environ(AWS_ENVIRON)

    assert (settings.artifacts_bucket, settings.registry_table) == ("artifacts-bucket", "registry-table")
    assert (settings.audit_bucket, settings.audit_mac_key_id) == (
        AWS_ENVIRON["AUDIT_BUCKET"],
        AWS_ENVIRON["AUDIT_MAC_KEY_ID"],
    )


def test_local_backend_without_local_root_fails() -> None:
    environ = AWS_ENVIRON | {"MLOPS_BACKEND": "local"}

    with pytest.raises(ConfigError, match="MLOPS_LOCAL_ROOT is required when MLOPS_BACKEND=local"):
        StageSettings.from_environ(environ)


def test_local_backend_with_local_root_parses() -> None:
    settings = StageSettings.from_environ(AWS_ENVIRON | {"MLOPS_BACKEND": "local", "MLOPS_LOCAL_ROOT": "/tmp/mlops"})

    assert settings.mlops_local_root == Path("/tmp/mlops")


def test_local_backend_with_empty_local_root_fails() -> None:
    environ = AWS_ENVIRON | {"MLOPS_BACKEND": "local", "MLOPS_LOCAL_ROOT": ""}

    with pytest.raises(ConfigError, match="MLOPS_LOCAL_ROOT"):
        StageSettings.from_environ(environ)


def test_unknown_backend_is_named() -> None:
    with pytest.raises(ConfigError, match=r"MLOPS_BACKEND: Input should be 'aws' or 'local'"):
        StageSettings.from_environ(AWS_ENVIRON | {"MLOPS_BACKEND": "gcp"})


def test_lower_case_variable_is_not_read() -> None:
    # Lambda environments are case-sensitive; only the upper-case spelling counts.
    environ = without("ARTIFACTS_BUCKET") | {"artifacts_bucket": "artifacts-bucket"}

    with pytest.raises(ConfigError, match="ARTIFACTS_BUCKET: Field required"):
        StageSettings.from_environ(environ)


def test_settings_are_frozen() -> None:
    settings = StageSettings.from_environ(AWS_ENVIRON)

    with pytest.raises(ValueError, match="frozen"):
        settings.artifacts_bucket = "elsewhere"  # type: ignore[misc, unused-ignore]


# --------------------------------------------------------------------------------------------------
# The template gives each deployed function every variable its settings require


def _template() -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse((REPO_ROOT / "template.yaml").read_text(encoding="utf-8"))
    return template


def _settings_class_of(code_uri: str) -> type[FunctionSettings]:
    app = (REPO_ROOT / code_uri / "app.py").read_text(encoding="utf-8")
    found = re.findall(r"\b(\w+Settings)\.from_environ\(", app)
    assert len(found) == 1, f"{code_uri}app.py should read exactly one settings class, found {found}"
    classes = {cls.__name__: cls for cls in SETTINGS_CLASSES}
    assert found[0] in classes, f"{code_uri}app.py uses {found[0]}, unknown to this test: add it to SETTINGS_CLASSES"
    return classes[found[0]]


def deployed_functions() -> dict[str, tuple[type[FunctionSettings], dict[str, str]]]:
    """Logical id -> (settings class its app.py reads, environment the template gives it)."""
    template = _template()
    global_variables = template["Globals"]["Function"]["Environment"]["Variables"]
    functions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        variables = global_variables | properties.get("Environment", {}).get("Variables", {})
        # A parameter's !Ref takes its default; other intrinsics (!Sub, !GetAtt ...) resolve at deploy
        # time; the Lambda runtime sets AWS_REGION.
        environ = {name: _deployed_value(template, value) for name, value in variables.items()}
        functions[logical_id] = (_settings_class_of(properties["CodeUri"]), environ | {"AWS_REGION": "eu-west-1"})
    return functions


def _deployed_value(template: dict[str, Any], value: Any) -> str:
    if isinstance(value, str):
        return value
    parameter = template["Parameters"].get(value.get("Ref", "")) if isinstance(value, dict) else None
    return str(parameter["Default"]) if parameter and "Default" in parameter else "<resolved>"


DEPLOYED = deployed_functions()


@pytest.mark.parametrize("logical_id", sorted(DEPLOYED))
def test_template_environment_satisfies_the_function_settings(logical_id: str) -> None:
    # Given the environment template.yaml gives the function (Globals + its own variables)
    settings_class, environ = DEPLOYED[logical_id]

    # Then its cold start reads its settings without a ConfigError
    settings = settings_class.from_environ(environ)
    assert settings.mlops_backend == "aws"


# --------------------------------------------------------------------------------------------------
# The audit ledger's bucket and MAC key: required in AWS, absent locally

AUDIT_VARIABLES = ("AUDIT_BUCKET", "AUDIT_MAC_KEY_ID")
LEDGER_WRITERS = [cls for cls in SETTINGS_CLASSES if issubclass(cls, AuditLedgerSettings)]
assert {"TriggerSettings", "ApprovalSettings", "VerifySettings", "MonitorSettings"} <= {
    c.__name__ for c in LEDGER_WRITERS
}


@pytest.mark.parametrize(
    ("settings_class", "variable"),
    [(cls, variable) for cls in LEDGER_WRITERS for variable in AUDIT_VARIABLES],
    ids=[f"{cls.__name__}-{variable}" for cls in LEDGER_WRITERS for variable in AUDIT_VARIABLES],
)
def test_audit_variable_missing_in_aws_fails_the_cold_start_naming_it(
    settings_class: type[FunctionSettings], variable: str
) -> None:
    with pytest.raises(ConfigError, match=f"{variable} is required when MLOPS_BACKEND=aws"):
        settings_class.from_environ(without(variable))


def test_both_audit_variables_missing_in_aws_are_named_at_once() -> None:
    environ = {name: value for name, value in AWS_ENVIRON.items() if name not in AUDIT_VARIABLES}

    with pytest.raises(ConfigError, match="AUDIT_BUCKET and AUDIT_MAC_KEY_ID are required when MLOPS_BACKEND=aws"):
        MonitorSettings.from_environ(environ)


def test_audit_variables_are_read_into_typed_fields() -> None:
    settings = TriggerSettings.from_environ(AWS_ENVIRON)

    assert (settings.audit_bucket, settings.audit_mac_key_id) == (
        AWS_ENVIRON["AUDIT_BUCKET"],
        AWS_ENVIRON["AUDIT_MAC_KEY_ID"],
    )


@pytest.mark.parametrize("settings_class", LEDGER_WRITERS, ids=[cls.__name__ for cls in LEDGER_WRITERS])
def test_local_backend_needs_no_audit_variables(settings_class: type[FunctionSettings]) -> None:
    environ = {name: value for name, value in AWS_ENVIRON.items() if name not in AUDIT_VARIABLES}

    settings = settings_class.from_environ(environ | {"MLOPS_BACKEND": "local", "MLOPS_LOCAL_ROOT": "/tmp/mlops"})

    assert settings.mlops_backend == "local"


def _writes_the_ledger(code_uri: str) -> bool:
    """Whether the function's dependencies object (what its ``dependencies()`` returns) holds the audit ledger."""
    deps_class = dependencies_class(REPO_ROOT / code_uri / "app.py")
    return "audit" in {field.name for field in dataclasses.fields(deps_class)}


def test_approval_deps_builds_the_audit_ledger() -> None:
    # Guards _writes_the_ledger: ApprovalDeps.audit has a default, so its builder must fill it.
    source = (REPO_ROOT / "layers/common/python/governed_mlops/services/approval_deps.py").read_text(encoding="utf-8")
    assert "factory.audit_ledger(settings)" in source


def _ledger_writers_in_template() -> dict[str, bool]:
    template = _template()
    return {
        logical_id: _writes_the_ledger(resource["Properties"]["CodeUri"])
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_the_template_has_exactly_eight_ledger_writers() -> None:
    writers = {name for name, writes in _ledger_writers_in_template().items() if writes}

    assert writers == {
        "TriggerFunction",
        "RequestApprovalFunction",
        "ApprovalApiFunction",
        "RecordApprovalOutcomeFunction",
        "VerifyDeploymentFunction",
        "ExecutionMonitorFunction",
        # Records an identical retrain (pipeline.no_change) before the run ends.
        "CompareChampionFunction",
        # Records monitoring.violation when a scheduled monitoring job finds drift.
        "MonitoringResultFunction",
    }


@pytest.mark.parametrize("logical_id", sorted(DEPLOYED))
def test_exactly_the_functions_that_write_the_ledger_get_its_bucket_and_key(logical_id: str) -> None:
    settings_class, environ = DEPLOYED[logical_id]
    writes = _ledger_writers_in_template()[logical_id]

    # A writer reads AuditLedgerSettings and gets both variables; no other function gets either.
    assert issubclass(settings_class, AuditLedgerSettings) is writes
    assert {name: name in environ for name in AUDIT_VARIABLES} == dict.fromkeys(AUDIT_VARIABLES, writes)


# --------------------------------------------------------------------------------------------------
# The settings declare every variable the template gives the function

#: Read by Powertools itself (service name, metrics namespace, log level), not by the function's code.
POWERTOOLS_PREFIX = "POWERTOOLS_"


@pytest.mark.parametrize("logical_id", sorted(DEPLOYED))
def test_the_function_settings_declare_every_variable_the_template_gives_it(logical_id: str) -> None:
    settings_class, environ = DEPLOYED[logical_id]
    declared = {name.upper() for name in settings_class.model_fields}

    undeclared = sorted(name for name in environ if name not in declared and not name.startswith(POWERTOOLS_PREFIX))

    assert undeclared == [], f"{settings_class.__name__} does not declare {undeclared}"
