"""Register Model refuses a lineage that would pair code and commit wrongly, before it reads or registers anything.

The run's event is the Register Model fixture in ``events/``; the store and the registry refuse
every call, so a refusal that comes after a read or a registration fails these tests.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import pytest

from governed_mlops.errors import ConfigError
from governed_mlops.models import StageEvent
from governed_mlops.services.stages import register_model
from tests.conftest import EVENTS_DIR

COMMIT = "f27e095db306666a1fb433c5d5009542d3bbc528"
OTHER_COMMIT = "0123456789abcdef0123456789abcdef01234567"
CONFIG_PATH = "models/credit-risk/config.yaml"


class Touched(AssertionError):
    """Register Model read or registered something."""


class Untouchable:
    """A store and a registry at once: any call is a failure the test can tell from a refusal."""

    def __getattr__(self, name: str) -> Any:
        def call(*_: object, **__: object) -> NoReturn:
            raise Touched(name)

        return call


def stage_event(*, source_commit: str | None, config_path: str | None) -> StageEvent:
    raw = json.loads((EVENTS_DIR / "register_model" / "register_model.json").read_text(encoding="utf-8"))
    raw["request"]["code"]["commit_id"] = COMMIT
    raw["request"]["config_path"] = config_path
    raw["prepared"]["source_commit"] = source_commit
    return StageEvent.model_validate(raw)


def register(event: StageEvent) -> None:
    untouchable: Any = Untouchable()
    register_model(event, untouchable, untouchable, definition=None)


def test_the_commits_configuration_with_the_releases_code_is_refused() -> None:
    with pytest.raises(ConfigError, match=rf"read from {CONFIG_PATH} of commit {COMMIT}.*release's"):
        register(stage_event(source_commit=None, config_path=CONFIG_PATH))


def test_code_packed_from_another_commit_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError, match=f"packed from commit {OTHER_COMMIT}, but the run is for commit {COMMIT}"):
        register(stage_event(source_commit=OTHER_COMMIT, config_path=CONFIG_PATH))


@pytest.mark.parametrize(
    ("source_commit", "config_path"),
    [(COMMIT, CONFIG_PATH), (COMMIT, None), (None, None)],
    ids=["commit-code-and-config", "commit-code-published-config", "release-code-published-config"],
)
def test_pairs_that_agree_go_on_to_read_the_artifacts(source_commit: str | None, config_path: str | None) -> None:
    with pytest.raises(Touched):
        register(stage_event(source_commit=source_commit, config_path=config_path))
