"""The test harness itself: unit tests have no network, and no test waits by sleeping.

A sleep guesses how long something takes: too short on a busy CI machine (a flake), too long everywhere else. Tests
wait on a condition with a deadline (tests/waiting.py); these checks keep it that way.
"""

from __future__ import annotations

import ast
import socket
import urllib.request
from pathlib import Path

import pytest
from pytest_socket import SocketBlockedError

TESTS_DIR = Path(__file__).resolve().parents[1]

#: The only functions under tests/ allowed to call time.sleep: each waits on a condition with a deadline, or (stall)
#: is slow on purpose for fault injection. (path relative to tests/, function name)
ALLOWED_SLEEPERS = {("waiting.py", "within"), ("waiting.py", "stall")}


def sleep_calls(source: str) -> list[tuple[int, str | None]]:
    """(line, enclosing function) of every ``time.sleep`` call in ``source``, however ``time`` was imported."""
    tree = ast.parse(source)
    time_modules, sleep_names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            time_modules.update(a.asname or a.name for a in node.names if a.name == "time")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            sleep_names.update(a.asname or a.name for a in node.names if a.name == "sleep")

    def is_sleep(func: ast.expr) -> bool:
        if isinstance(func, ast.Attribute) and func.attr == "sleep":
            return isinstance(func.value, ast.Name) and func.value.id in time_modules
        return isinstance(func, ast.Name) and func.id in sleep_names

    found: list[tuple[int, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Call) and is_sleep(child.func):
                found.append((child.lineno, function))
            visit(child, child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function)

    visit(tree, None)
    return found


def test_no_test_sleeps_outside_the_waiting_helpers() -> None:
    offenders = []
    for path in sorted(TESTS_DIR.rglob("*.py")):
        relative = path.relative_to(TESTS_DIR).as_posix()
        for line, function in sleep_calls(path.read_text(encoding="utf-8")):
            if (relative, function) not in ALLOWED_SLEEPERS:
                offenders.append(f"tests/{relative}:{line} (in {function or 'module scope'})")
    assert offenders == [], (
        "time.sleep in tests: wait on a condition with a deadline instead (tests.waiting.until / within), "
        f"or use tests.waiting.stall for deliberate slowness: {offenders}"
    )


def test_the_allowed_sleepers_exist() -> None:
    # A renamed helper would otherwise leave a stale allowance that no longer guards anything
    for relative, function in ALLOWED_SLEEPERS:
        calls = sleep_calls((TESTS_DIR / relative).read_text(encoding="utf-8"))
        assert function in {f for _, f in calls}, (relative, function)


@pytest.mark.parametrize(
    "source",
    [
        "import time\ndef wait():\n    time.sleep(1)\n",
        "import time as clock\nclock.sleep(0.5)\n",
        "from time import sleep\nclass Poller:\n    def poll(self):\n        sleep(0.1)\n",
        "from time import sleep as pause\nlambda: pause(1)\n",
    ],
    ids=["module-attribute", "aliased-module", "imported-name-in-method", "aliased-name"],
)
def test_the_scan_finds_a_sleep_however_it_is_written(source: str) -> None:
    assert len(sleep_calls(source)) == 1


def test_the_scan_names_the_enclosing_function_and_ignores_other_sleeps() -> None:
    source = (
        "import time, asyncio\n"
        "def outer():\n    def inner():\n        time.sleep(1)\n    return inner\n"
        "async def later():\n    await asyncio.sleep(1)\n"
        "def mentions():\n    return 'time.sleep(1)'\n"
    )
    assert sleep_calls(source) == [(4, "inner")]


# -- sockets --------------------------------------------------------------------------------------

# pytest-socket warns before it raises; the raise is what these tests are about
pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket")


def test_a_unit_test_cannot_open_a_network_socket() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_a_unit_test_cannot_connect_to_a_local_port() -> None:
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_a_unit_test_cannot_resolve_a_host_or_make_an_http_request() -> None:
    with pytest.raises(SocketBlockedError):
        socket.getaddrinfo("localhost", 80)
    with pytest.raises(SocketBlockedError):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)


@pytest.fixture
def socket_from_a_fixture() -> str:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except SocketBlockedError:
        return "blocked"
    return "opened"


def test_a_unit_tests_fixtures_cannot_open_a_network_socket_either(socket_from_a_fixture: str) -> None:
    assert socket_from_a_fixture == "blocked"


def test_unix_sockets_stay_available() -> None:
    # asyncio's event loop and subprocess pipes use socketpair: those are not network
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"ping")
        assert right.recv(4) == b"ping"


class _Item:
    """What tests/conftest.py's collection hook reads of a collected test: its module and its line."""

    def __init__(self, module: object, line: int) -> None:
        self.module = module
        self.line = line

    def reportinfo(self) -> tuple[str, int, str]:
        return ("", self.line, "")


class _Module:
    def __init__(self, *marks: str) -> None:
        self.pytestmark = [getattr(pytest.mark, name) for name in marks]


def test_modules_marked_schedule_early_go_first_and_the_rest_keep_their_shuffled_order() -> None:
    from tests.conftest import pytest_collection_modifyitems

    # Given a shuffled collection: short module a, long module b (in file order), short c, long d
    a, b, c, d = _Module(), _Module("schedule_early", "in_file_order"), _Module("slow"), _Module("schedule_early")
    items = [_Item(a, 2), _Item(a, 1), _Item(b, 9), _Item(b, 3), _Item(c, 5), _Item(d, 7), _Item(d, 4)]
    # When the hook orders it
    pytest_collection_modifyitems(items)
    # Then the long modules come first in their shuffled order (b's tests in file order), then the short ones
    assert [(item.module, item.line) for item in items] == [(b, 3), (b, 9), (d, 7), (d, 4), (a, 2), (a, 1), (c, 5)]


def test_the_makefile_hands_modules_to_workers_in_collection_order() -> None:
    # Without --no-loadscope-reorder xdist orders modules by their number of tests and the marker does nothing.
    makefile = (TESTS_DIR.parent / "Makefile").read_text(encoding="utf-8")
    second_session = next(line for line in makefile.splitlines() if "--ignore=tests/unit" in line)
    assert "--dist loadfile --no-loadscope-reorder" in second_session
