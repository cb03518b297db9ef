"""The local API answers only requests addressed to its own loopback origin (DNS-rebinding defence)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from governed_mlops_local.gateway import HOST_NOT_ALLOWED, LocalGateway


class EchoHost:
    """Stands in for the Lambda host: every approval request reaches the function and is answered 200."""

    def __init__(self) -> None:
        self.invocations = 0

    def invoke(self, function: str, payload: Any) -> dict[str, Any]:
        self.invocations += 1
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"approvals": []}'}


@pytest.fixture
def served() -> Iterator[tuple[EchoHost, int]]:
    host = EchoHost()
    gateway = LocalGateway(
        host,  # type: ignore[arg-type]
        "arn:approval",
        default_user="carol.approver",
        approvers={"carol.approver"},
        approver_group="model-approvers",
    )
    gateway.mount("/executions", lambda *_: (200, {"Content-Type": "text/html"}, b"<p>history</p>"))
    gateway.start()
    try:
        yield host, int(gateway.url.rsplit(":", 1)[1])
    finally:
        gateway.stop()


def _get(port: int, path: str, host_header: str | None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        if host_header is not None:
            connection.putheader("Host", host_header)
        connection.putheader("Accept", "application/json")
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/approvals", "/executions"])
@pytest.mark.parametrize(
    "host_header",
    ["rebound.attacker.example:{port}", "rebound.attacker.example", "127.0.0.1", "localhost:1{port}", "", None],
    ids=["foreign-name-same-port", "foreign-name", "no-port", "other-port", "empty", "absent"],
)
def test_a_request_for_another_origin_is_refused_before_any_route_runs(
    served: tuple[EchoHost, int], path: str, host_header: str | None
):
    host, port = served
    status, body = _get(port, path, None if host_header is None else host_header.format(port=port))
    assert status == 421
    assert json.loads(body)["error"] == HOST_NOT_ALLOWED
    assert host.invocations == 0


@pytest.mark.parametrize("host_header", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}"])
def test_a_request_for_the_gateways_own_origin_is_served(served: tuple[EchoHost, int], host_header: str):
    host, port = served
    status, _ = _get(port, "/approvals", host_header.format(port=port))
    assert status == 200
    assert host.invocations == 1


def _gateway() -> LocalGateway:
    gateway = LocalGateway(
        EchoHost(),  # type: ignore[arg-type]
        "arn:approval",
        default_user="carol.approver",
        approvers={"carol.approver"},
        approver_group="model-approvers",
    )
    gateway.mount("/executions", lambda *_: (200, {"Content-Type": "text/html"}, b"<p>history</p>"))
    return gateway


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process holds (listening), as a second data directory's server would."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_taken_when_binding_is_an_error_unless_any_port_will_do(taken_port: int):
    # An explicit port (`mlops serve --port N`) must be had: binding it fails loudly
    with pytest.raises(OSError, match="Address already in use"):
        _gateway().start(taken_port)
    # The default port of a server started in the background need not: it takes another free one
    gateway = _gateway()
    gateway.start(taken_port, any_port_if_taken=True)
    try:
        port = int(gateway.url.rsplit(":", 1)[1])
        assert port not in {0, taken_port}
        assert _get(port, "/executions", f"127.0.0.1:{port}")[0] == 200
    finally:
        gateway.stop()
