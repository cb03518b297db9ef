"""Region-specific SageMaker image URIs for ``sam deploy``, looked up with the SageMaker SDK.

The SDK (``sagemaker-core``, ~450 MB) is never imported here: it lives in its own tool environment
(``make deploy-tools`` -> ``.tools/sagemaker-sdk``) and is asked in a subprocess, so neither the
project environment nor any Lambda package ever carries it. Its image tables ship inside the
package, so the lookup works offline.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

from governed_mlops.errors import ConfigError

#: Where ``make deploy-tools`` installs the SDK, relative to the project directory.
SDK_PYTHON = Path(".tools/sagemaker-sdk/bin/python")
#: The job scripts are built and tested against this XGBoost (see the lock file); the container must match.
XGBOOST_VERSION = "3.2-0"
SKLEARN_VERSION = "1.4-2-py312"
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")

# Run by the SDK's interpreter: the request on stdin, {parameter: uri} as the last stdout line.
_LOOKUP_SCRIPT = """
import json, sys
from sagemaker.core import image_uris
request = json.load(sys.stdin)
uris = {name: image_uris.retrieve(region=request["region"], **spec) for name, spec in request["images"].items()}
print(json.dumps(uris))
"""


@dataclass(frozen=True)
class ImageSpec:
    """One template parameter and the ``image_uris.retrieve`` arguments that find its image."""

    parameter: str
    framework: str
    version: str | None = None
    image_scope: str | None = None

    def retrieve_arguments(self) -> dict[str, str]:
        arguments = {"framework": self.framework}
        if self.version:
            arguments["version"] = self.version
        if self.image_scope:
            arguments["image_scope"] = self.image_scope
        return arguments


def image_specs(processing_framework: str = "xgboost") -> tuple[ImageSpec, ...]:
    """The images the pipeline runs: training, evaluation (processing), Clarify and Model Monitor.

    The evaluation script loads an XGBoost booster, so the XGBoost image is the default processing
    image; ``sklearn`` suits processing scripts that need only scikit-learn.
    """
    if processing_framework == "xgboost":
        processing = ImageSpec("ProcessingImage", "xgboost", XGBOOST_VERSION, "training")
    elif processing_framework == "sklearn":
        processing = ImageSpec("ProcessingImage", "sklearn", SKLEARN_VERSION, "training")
    else:
        raise ConfigError(f"processing framework must be xgboost or sklearn, not {processing_framework!r}")
    return (
        ImageSpec("TrainingImage", "xgboost", XGBOOST_VERSION, "training"),
        processing,
        ImageSpec("ClarifyImage", "clarify"),
        ImageSpec("ModelMonitorImage", "model-monitor"),
    )


Runner = Callable[[list[str], str], str]


def _run(argv: list[str], stdin: str) -> str:
    try:
        answer = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False, timeout=120)
    except OSError as exc:
        raise ConfigError(f"cannot run {argv[0]}: {exc}") from exc
    if answer.returncode != 0:
        tail = "\n".join(answer.stderr.strip().splitlines()[-5:])
        raise ConfigError(f"SageMaker SDK image lookup failed:\n{tail}")
    return answer.stdout


def resolve_images(
    region: str,
    specs: Iterable[ImageSpec],
    *,
    sdk_python: Path,
    runner: Runner = _run,
) -> dict[str, str]:
    """``{parameter: image URI}`` for ``region``, from the SDK in ``sdk_python``'s environment."""
    if not _REGION.match(region):
        raise ConfigError(f"{region!r} is not an AWS region name (e.g. eu-west-1)")
    if not sdk_python.exists():
        raise ConfigError(
            f"the SageMaker SDK tool environment is missing ({sdk_python}): run 'make deploy-tools' first"
        )
    request = {"region": region, "images": {spec.parameter: spec.retrieve_arguments() for spec in specs}}
    output = runner([str(sdk_python), "-c", _LOOKUP_SCRIPT], json.dumps(request))
    lines = output.strip().splitlines()
    try:
        uris = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        uris = None
    if not isinstance(uris, dict) or set(uris) != set(request["images"]):
        raise ConfigError(f"unexpected answer from the SageMaker SDK image lookup: {output.strip()[-500:]!r}")
    return {str(name): str(uri) for name, uri in uris.items()}


def template_parameters(template: Path) -> set[str]:
    """Names of the parameters ``template`` declares (``sam deploy`` rejects overrides of others)."""
    document = yaml_parse(template.read_text(encoding="utf-8"))
    return set(document.get("Parameters") or {})


def parameter_overrides(images: Mapping[str, str], declared: set[str]) -> tuple[str, list[str]]:
    """The ``--parameter-overrides`` argument for the declared parameters, and the names left out."""
    kept = [f"{name}={uri}" for name, uri in images.items() if name in declared]
    skipped = sorted(name for name in images if name not in declared)
    return ("--parameter-overrides " + " ".join(kept) if kept else ""), skipped
