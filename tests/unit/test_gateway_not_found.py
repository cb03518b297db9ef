"""An address the local server does not serve: a page for a browser, JSON for a client."""

from __future__ import annotations

import json

import pytest

from governed_mlops_local.gateway import LocalGateway, allowed_hosts


@pytest.fixture
def gateway() -> LocalGateway:
    gateway = LocalGateway(
        host=None,  # type: ignore[arg-type] - no route here reaches a Lambda function
        approval_function="ApprovalApiFunction",
        default_user="carol.approver",
        approvers={"carol.approver"},
        approver_group="model-approvers",
    )
    gateway._hosts = allowed_hosts(8765)  # as start() sets them, without opening a socket
    return gateway


def test_a_browser_gets_a_titled_html_page_that_says_where_to_go(gateway: LocalGateway):
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    status, headers, body = gateway.dispatch(
        "GET", "/nothing/<here>", {"Host": "127.0.0.1:8765", "Accept": accept}, b""
    )
    page = body.decode()
    assert status == 404
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<html lang="en">' in page
    assert "<title>No page here</title>" in page
    assert "<h1>No page here</h1>" in page
    assert "Nothing is served at /nothing/&lt;here&gt; on this local server." in page
    assert '<a href="/executions">' in page


def test_a_client_without_html_in_accept_still_gets_json(gateway: LocalGateway):
    status, headers, body = gateway.dispatch("GET", "/nothing", {"Host": "localhost:8765"}, b"")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": "no route for /nothing"}
