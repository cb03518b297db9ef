"""The one way tests wait: poll a condition until it holds or a deadline passes (never a bare sleep).

Only this module calls ``time.sleep`` (tests/unit/test_harness.py fails on any other call under tests/): a test that
waits names what it waits for and how long it is willing to, so a slow machine shows up as a named timeout, not as a
flaky assertion after a guessed pause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def within(condition: Callable[[], Any], timeout: float, *, poll: float = 0.05) -> Any:
    """``condition()``'s first truthy value, or its last (falsy) value once ``timeout`` seconds have passed.

    For waits where nothing happening is itself the answer (no message arrived, no execution started); the
    condition is always called at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(min(poll, max(deadline - time.monotonic(), 0.0)))


def until(condition: Callable[[], Any], timeout: float, what: str, *, poll: float = 0.05) -> Any:
    """``condition()``'s first truthy value; AssertionError naming ``what`` when ``timeout`` seconds pass first.

    The condition may raise (e.g. an assertion that the execution is still running) to stop waiting early.
    """
    value = within(condition, timeout, poll=poll)
    if not value:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
    return value


def stall(seconds: float, *, step: float = 0.01) -> None:
    """Be slow on purpose, the way code is: many short steps, so an invocation that is stopped stops promptly.

    For fault injection only (a handler or hook that outlives its timeout); it waits for nothing, so it is never
    a way for a test to wait for something to happen: use ``until`` for that.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(step)
