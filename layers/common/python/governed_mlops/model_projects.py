"""Model projects: one directory per model, ``models/<name>/config.yaml``, served by one stack.

A model's name is its project's directory. Its data arrives under ``<data prefix><name>/``, its
configuration is published at ``<models prefix><name>/config.yaml`` in the artifacts bucket, and its
endpoint, registry group, approvers and alarms come from that file (each defaulting to the name), so
two models never touch each other's resources unless a config says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from governed_mlops.config import APPROVALS_REQUIRED, PipelineConfig, parse_config
from governed_mlops.domain.sourcedir import SourceTree
from governed_mlops.errors import ConfigError, UnknownModelError
from governed_mlops.models import ModelSpec

#: Where model projects live in a repository and, published, in the artifacts bucket.
MODELS_DIR = "models"
CONFIG_FILE = "config.yaml"
MODEL_NAME = re.compile(r"^[a-z0-9](-?[a-z0-9]){0,40}$")
#: Key prefix of configurations read from a commit, in the artifacts bucket: ``config/<sha256>/config.yaml``.
COMMIT_CONFIG_PREFIX = "config/"


def config_key(models_prefix: str, name: str) -> str:
    """``models/<name>/config.yaml`` under the stack's models prefix."""
    return f"{models_prefix}{name}/{CONFIG_FILE}"


def check_name(name: str) -> str:
    if not MODEL_NAME.match(name):
        raise UnknownModelError(
            f"{name!r} is not a valid model name: lower-case letters, digits and single hyphens, at most 41 "
            "characters (it names the endpoint and the registry group)"
        )
    return name


def model_of_data_key(data_prefix: str, key: str) -> str:
    """The model a dataset object belongs to: ``<data prefix><model>/<file>``."""
    rest = key[len(data_prefix) :] if key.startswith(data_prefix) else ""
    name, slash, file = rest.partition("/")
    if not slash or not file or not name:
        raise UnknownModelError(
            f"{key!r} is not under a model's data prefix {data_prefix}<model>/: upload datasets as "
            f"{data_prefix}<model>/<file>.csv (`mlops upload FILE --model NAME` does this)"
        )
    return check_name(name)


def model_of_config_key(models_prefix: str, key: str) -> str | None:
    """The model whose published config ``key`` is, or None for any other key under the prefix."""
    rest = key[len(models_prefix) :] if key.startswith(models_prefix) else ""
    name, slash, file = rest.partition("/")
    if slash and file == CONFIG_FILE and MODEL_NAME.match(name):
        return name
    return None


def model_spec(name: str, config: PipelineConfig) -> ModelSpec:
    """The operational part of ``config`` with every default resolved, for the run's request."""
    section = config.model
    if section.name is not None and section.name != name:
        raise ConfigError(
            f"models/{name}/{CONFIG_FILE}: model.name is {section.name!r} but the project directory is {name!r}; "
            "they must agree (or leave model.name out)"
        )
    return ModelSpec(
        name=name,
        endpoint_name=section.endpoint_name or name,
        model_package_group=section.model_package_group or name,
        approvers_group=section.approvers_group,
        risk_tier=section.risk_tier,
        approvals_required=APPROVALS_REQUIRED[section.risk_tier],
        max_latency_us=round(section.canary.max_latency_ms * 1000),
        min_positive_rate=section.canary.min_positive_rate,
        max_positive_rate=section.canary.max_positive_rate,
    )


def project_configs(project_dir: Path) -> dict[str, Path]:
    """Every model project of a checkout: name -> its config file, sorted by name."""
    root = project_dir / MODELS_DIR
    if not root.is_dir():
        return {}
    return {
        path.parent.name: path for path in sorted(root.glob(f"*/{CONFIG_FILE}")) if MODEL_NAME.match(path.parent.name)
    }


def load_project(project_dir: Path, name: str) -> tuple[PipelineConfig, ModelSpec]:
    """Parse and resolve one model project of a checkout."""
    configs = project_configs(project_dir)
    path = configs.get(check_name(name))
    if path is None:
        known = ", ".join(configs) or "none"
        raise UnknownModelError(
            f"no model project {name!r}: expected {MODELS_DIR}/{name}/{CONFIG_FILE} (models: {known}); "
            f"`mlops models add {name} --data FILE --target COLUMN --positive-label VALUE` creates one"
        )
    config = parse_config(path.read_text(encoding="utf-8"), source=str(path.relative_to(project_dir)))
    return config, model_spec(name, config)


def endpoint_owners(specs: dict[str, ModelSpec]) -> dict[str, str]:
    """endpoint name -> model; two models claiming one endpoint is a configuration error."""
    owners: dict[str, str] = {}
    for name, spec in specs.items():
        for resource, value in (("endpoint", spec.endpoint_name), ("registry group", spec.model_package_group)):
            key = f"{resource}:{value}"
            if key in owners:
                raise ConfigError(f"models {owners[key]!r} and {name!r} both use {resource} {value!r}")
            owners[key] = name
    return {key.split(":", 1)[1]: name for key, name in owners.items() if key.startswith("endpoint:")}


def repository_config_path(name: str) -> str:
    """``models/<name>/config.yaml``: where a model's configuration is in a commit."""
    return f"{MODELS_DIR}/{name}/{CONFIG_FILE}"


def commit_config_key(sha256: str) -> str:
    """Where a configuration read from a commit is stored: named by its bytes, so a run pins exactly them."""
    return f"{COMMIT_CONFIG_PREFIX}{sha256}/{CONFIG_FILE}"


def commit_projects(tree: SourceTree) -> list[str]:
    """The model projects of one commit: every ``models/<name>/`` holding a ``config.yaml``, sorted by name."""
    models = tree.listing(MODELS_DIR)
    if models is None:
        return []
    found = []
    for name in sorted(models.folders):
        listing = tree.listing(f"{MODELS_DIR}/{name}") if MODEL_NAME.match(name) else None
        if listing is not None and CONFIG_FILE in listing.files:
            found.append(name)
    return found
