"""``mlops deploy-params``: region-specific SageMaker image URIs from the SDK's own tables.

The lookup runs in the SDK's tool environment (``make deploy-tools``); without it the real-lookup
test skips and says so. Everything around the lookup is tested with a stand-in runner.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from governed_mlops.errors import ConfigError
from governed_mlops_local.cli import deploy as deploy_cli
from governed_mlops_local.cli.deploy import deploy_params
from governed_mlops_local.deploy_params import (
    SDK_PYTHON,
    XGBOOST_VERSION,
    image_specs,
    parameter_overrides,
    resolve_images,
    template_parameters,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SDK = REPO_ROOT / SDK_PYTHON
_ECR = r"^\d{12}\.dkr\.ecr\.%s\.amazonaws\.com/%s"

needs_sdk = pytest.mark.skipif(
    not SDK.exists(), reason=f"SageMaker SDK tool environment absent ({SDK_PYTHON}); run 'make deploy-tools'"
)


@needs_sdk
@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2"])
def test_images_resolve_for_the_region_with_the_sdk(region: str) -> None:
    images = resolve_images(region, image_specs(), sdk_python=SDK)

    assert re.match(_ECR % (region, f"sagemaker-xgboost:{XGBOOST_VERSION}$"), images["TrainingImage"])
    assert images["ProcessingImage"] == images["TrainingImage"]  # the evaluation script needs XGBoost
    assert re.match(_ECR % (region, "sagemaker-clarify-processing:"), images["ClarifyImage"])
    assert re.match(_ECR % (region, "sagemaker-model-monitor-analyzer"), images["ModelMonitorImage"])


@needs_sdk
def test_sklearn_processing_image_resolves_with_the_sdk() -> None:
    images = resolve_images("us-east-1", image_specs("sklearn"), sdk_python=SDK)

    assert re.match(_ECR % ("us-east-1", "sagemaker-scikit-learn:"), images["ProcessingImage"])


def _fake_runner(answer: dict[str, str]) -> Any:
    calls: list[dict[str, Any]] = []

    def run(argv: list[str], stdin: str) -> str:
        calls.append({"argv": argv, "request": json.loads(stdin)})
        return "some SDK chatter\n" + json.dumps(answer) + "\n"

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_lookup_asks_the_sdk_for_every_image_in_the_region(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.touch()
    runner = _fake_runner({"TrainingImage": "t", "ProcessingImage": "p", "ClarifyImage": "c", "ModelMonitorImage": "m"})

    images = resolve_images("eu-central-1", image_specs(), sdk_python=python, runner=runner)

    assert images == {"TrainingImage": "t", "ProcessingImage": "p", "ClarifyImage": "c", "ModelMonitorImage": "m"}
    (call,) = runner.calls
    assert call["argv"][:2] == [str(python), "-c"]
    assert call["request"]["region"] == "eu-central-1"
    assert call["request"]["images"]["TrainingImage"] == {
        "framework": "xgboost",
        "version": XGBOOST_VERSION,
        "image_scope": "training",
    }


def test_missing_sdk_environment_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="make deploy-tools"):
        resolve_images("eu-west-1", image_specs(), sdk_python=tmp_path / "absent" / "python")


def test_region_name_is_checked_before_asking_the_sdk(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an AWS region"):
        resolve_images("eu-west", image_specs(), sdk_python=tmp_path)


def test_an_answer_without_every_image_is_an_error(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.touch()

    with pytest.raises(ConfigError, match="unexpected answer"):
        resolve_images("eu-west-1", image_specs(), sdk_python=python, runner=_fake_runner({"TrainingImage": "t"}))


def test_overrides_name_only_parameters_the_template_declares() -> None:
    declared = template_parameters(REPO_ROOT / "template.yaml")

    line, skipped = parameter_overrides({"TrainingImage": "t", "ProcessingImage": "p", "NotInTemplate": "x"}, declared)

    assert line == "--parameter-overrides TrainingImage=t ProcessingImage=p"
    assert skipped == ["NotInTemplate"]


def test_command_prints_the_overrides_for_sam_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a lookup that answers for the region asked
    seen: list[str] = []

    def fake_resolve(region: str, specs: Any, *, sdk_python: Path) -> dict[str, str]:
        seen.append(region)
        return {spec.parameter: f"{spec.parameter.lower()}@{region}" for spec in specs}

    monkeypatch.setattr(deploy_cli, "resolve_images", fake_resolve)
    monkeypatch.chdir(REPO_ROOT)

    result = CliRunner().invoke(deploy_params, ["--region", "eu-west-1"])

    assert result.exit_code == 0, result.output
    assert seen == ["eu-west-1"]
    assert result.stdout.strip() == (
        "--parameter-overrides TrainingImage=trainingimage@eu-west-1 ProcessingImage=processingimage@eu-west-1"
    )


def test_command_fails_with_the_reason_when_the_sdk_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)

    result = CliRunner().invoke(deploy_params, ["--region", "eu-west-1", "--sdk-python", str(tmp_path / "nope")])

    assert result.exit_code == 2
    assert "make deploy-tools" in result.stderr
