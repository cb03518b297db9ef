"""The parity hosting's health check: a container is healthy once it said it loaded its model, not before."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.parity.hosting import _Container


def _container(script: str) -> _Container:
    answer_read, answer_write = os.pipe()
    process = subprocess.Popen([sys.executable, "-c", script, str(answer_write)], pass_fds=(answer_write,))
    os.close(answer_write)
    return _Container(
        process=process,
        requests=None,
        answers=os.fdopen(answer_read, "r"),
        log_group="/aws/sagemaker/Endpoints/e",
        log_stream="AllTraffic/i-0",
    )


@pytest.mark.parametrize(
    ("script", "healthy"),
    [
        # loads slowly, then passes the check: waiting covers the load
        (
            "import json, os, sys, time; time.sleep(0.3); answers = os.fdopen(int(sys.argv[1]), 'w'); "
            "answers.write(json.dumps({'status': 200, 'ready': True}) + '\\n'); answers.flush()",
            True,
        ),
        # model_fn raised: the process exits before it said it was ready
        ("raise SystemExit(1)", False),
    ],
)
def test_a_container_is_healthy_only_once_it_loaded_its_model(script: str, healthy: bool):
    container = _container(script)
    try:
        assert container.wait_healthy() is healthy
        assert container.wait_healthy() is healthy  # answered once, remembered
    finally:
        container.process.wait(timeout=30)
        container.answers.close()
