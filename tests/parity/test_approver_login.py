"""Approver login on the parity stack: a clicked link, the managed login (double) with TOTP, the session cookie.

Every token here is minted by moto's user pool (real RS256 JWTs under the key moto publishes at the pool's
JWKS URL); the REQUEST authorizer and the login function run from template.yaml under their own roles.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import boto3
import pytest

from governed_mlops.domain.login import LOGIN_COOKIE, SESSION_COOKIE
from tests.parity.runtime import cookies_set
from tests.parity.stack import HARNESS_CREDENTIALS
from tests.parity.world import APPROVER_PASSWORD, World, parity_world

pytestmark = [pytest.mark.parity, pytest.mark.schedule_early]

APPROVER = "carol.approver"
OUTSIDER = "olga.outsider"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with parity_world(tmp_path_factory.mktemp("parity"), "gm-login") as active:
        active.runtime.api.create_user(OUTSIDER, APPROVER_PASSWORD)  # in the pool, not in the approvers group
        yield active


@pytest.fixture(scope="module")
def link(world: World) -> str:
    """A real approval request's signed link (a push to main, waiting at the approval step)."""
    world.seed_dataset()
    deliveries = world.push()
    (run,) = deliveries[0].result["runs"]
    return world.approval_link(str(run["execution_arn"]))


def _path_and_query(link: str, stage: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(link)
    return parts.path.removeprefix(f"/{stage}"), {k: v[-1] for k, v in parse_qs(parts.query).items()}


def _moto_id_token(world: World, *, client_id: str | None = None, pool_id: str | None = None, **kw: Any) -> str:
    """An ID token minted by moto's user pool (moto's own signing key), for cases a sign-in cannot produce."""
    from moto.cognitoidp.models import cognitoidp_backends

    stack = world.stack
    backend = cognitoidp_backends[stack.account_id][stack.region]
    pool = backend.user_pools[pool_id or stack.user_pool_id]
    groups = {"cognito:groups": [stack.parameters["ApproverGroup"]]}
    token, _ = pool.create_jwt(client_id or stack.user_pool_client_id, APPROVER, "id", extra_data=groups, **kw)
    return str(token)


def test_a_clicked_link_signs_the_approver_in_with_mfa_and_returns_to_the_page(world: World, link: str) -> None:
    api, stage = world.runtime.api, world.stack.api_stage
    path, query = _path_and_query(link, stage)

    # Given an approver who clicks the emailed link with no session
    status, headers, _ = api.request("GET", path, query=query, headers={"Accept": "text/html"})
    # Then the page sends the browser to sign in, keeping the link's path and signature to return to
    assert status == 302
    login = urlsplit(headers["Location"])
    assert login.path == f"/{stage}/auth/login"
    return_to = unquote(parse_qs(login.query)["return_to"][0])
    assert urlsplit(return_to).path == f"/{stage}{path}"
    assert parse_qs(urlsplit(return_to).query) == {k: [v] for k, v in query.items()}

    # When the login function sends them to the managed login (PKCE S256, state, nonce, the registered callback)
    status, headers, _ = api.request("GET", "/auth/login", query={"return_to": return_to})
    assert status == 302
    jar = cookies_set(headers)
    authorize = {k: v[-1] for k, v in parse_qs(urlsplit(headers["Location"]).query).items()}
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["redirect_uri"] == f"https://{api.host}/{stage}/auth/callback"
    # And they sign in there with their password and a TOTP code (enrolling the authenticator if first time)
    callback = urlsplit(api.managed_login.authorize(headers["Location"], username=APPROVER, password=APPROVER_PASSWORD))
    assert APPROVER in api.managed_login.authenticators
    code_query = {k: v[-1] for k, v in parse_qs(callback.query).items()}
    status, headers, body = api.request("GET", "/auth/callback", query=code_query, cookies=jar)

    # Then the callback sets the session cookie (Strict, HttpOnly, Secure, __Host-) and continues to the link
    assert status == 200, body
    session_line = next(line for line in headers["Set-Cookie"].splitlines() if line.startswith(SESSION_COOKIE))
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in session_line.split(";")}
    assert cookies_set(headers)[LOGIN_COOKIE] == ""  # the round trip's cookie is cleared
    assert return_to.replace("&", "&amp;") in body
    session = cookies_set(headers)[SESSION_COOKIE]

    # And the code cannot be exchanged a second time (a replayed callback fails)
    status, _, body = api.request("GET", "/auth/callback", query=code_query, cookies=jar)
    assert status == 403
    assert "LoginFailed" in body

    # When the browser opens the page with the session
    status, _, page = api.request("GET", path, query=query, id_token=session, headers={"Accept": "application/json"})
    # Then the evidence is shown to the approver the authorizer vouched for, and the access log names them
    assert status == 200, page
    assert api.access_log[-1] == {"method": "GET", "path": path, "status": 200, "user": APPROVER}


def test_the_signed_in_page_shows_the_jobs_svg_charts_read_under_the_approval_role(world: World, link: str) -> None:
    # Given a signed-in approver (the page function reads the run's evidence with its own role, under KMS)
    api = world.runtime.api
    path, query = _path_and_query(link, world.stack.api_stage)
    session = api.sign_in(APPROVER, APPROVER_PASSWORD)

    # When the browser opens the page
    status, _, page = api.request("GET", path, query=query, id_token=session, headers={"Accept": "text/html"})

    # Then the bias jobs' and the explainability job's SVG charts are embedded, each a figure of its own
    assert status == 200, page
    for name in ("bias_pre_plot", "bias_post_plot", "shap_plot"):
        figure = page.split(f"data-testid='plot-{name}'", 1)[1].split("</figure>", 1)[0]
        assert "src='data:image/svg+xml;base64," in figure, name
    assert "is not an image this page embeds" not in page


def test_without_a_cookie_the_page_redirects_and_scripts_are_told_to_sign_in(world: World, link: str) -> None:
    api = world.runtime.api
    path, query = _path_and_query(link, world.stack.api_stage)
    assert api.request("GET", path, query=query, headers={"Accept": "text/html"})[0] == 302
    assert api.request("GET", path, query=query, headers={"Accept": "application/json"})[0] == 401
    assert api.request("GET", "/approvals", headers={"Accept": "application/json"})[0] == 401
    status, _, _ = api.request("POST", f"{path}/decision", body="{}", headers={"Content-Type": "application/json"})
    assert status == 401
    assert api.access_log[-1]["user"] == "anonymous"


def _other_client(world: World) -> str:
    cognito = boto3.client("cognito-idp", region_name=world.stack.region, **HARNESS_CREDENTIALS)
    return str(
        cognito.create_user_pool_client(UserPoolId=world.stack.user_pool_id, ClientName="some-other-app")[
            "UserPoolClient"
        ]["ClientId"]
    )


def _other_pool(world: World) -> str:
    cognito = boto3.client("cognito-idp", region_name=world.stack.region, **HARNESS_CREDENTIALS)
    pool = cognito.create_user_pool(PoolName="someone-elses-pool")["UserPool"]["Id"]
    cognito.admin_create_user(UserPoolId=pool, Username=APPROVER, MessageAction="SUPPRESS")
    return str(pool)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda w: _moto_id_token(w, expires_in=-60), id="expired"),
        pytest.param(lambda w: _moto_id_token(w, client_id=_other_client(w)), id="wrong-audience"),
        pytest.param(lambda w: _moto_id_token(w, pool_id=_other_pool(w)), id="wrong-issuer"),
        pytest.param(
            lambda w: w.runtime.api.managed_login.sign_in(
                OUTSIDER, APPROVER_PASSWORD, client_id=w.stack.user_pool_client_id
            )["IdToken"],
            id="missing-approvers-group",
        ),
        pytest.param(
            lambda w: (lambda t: t[:-6] + ("AAAAAA" if not t.endswith("AAAAAA") else "BBBBBB"))(_moto_id_token(w)),
            id="tampered-signature",
        ),
    ],
)
def test_a_session_that_fails_a_check_is_refused_at_the_edge(world: World, link: str, forge: Any) -> None:
    api = world.runtime.api
    path, query = _path_and_query(link, world.stack.api_stage)
    calls_before = list(world.runtime.functions.invocations)
    # Given a session cookie holding a moto-minted token that fails one check
    token = forge(world)
    # When the browser opens the signed link with it
    status, _, body = api.request("GET", path, query=query, id_token=token, headers={"Accept": "application/json"})
    # Then API Gateway answers 403 on the authorizer's Deny: the approval function never runs
    assert status == 403, body
    assert "explicit deny" in body
    new_calls = world.runtime.functions.invocations[len(calls_before) :]
    assert "ApprovalApiFunction" not in [name for name, _ in new_calls]
    assert ("ApproverAuthorizerFunction", "ok") in new_calls


def test_a_signed_in_approver_without_the_links_signature_is_refused(world: World, link: str) -> None:
    api = world.runtime.api
    path, query = _path_and_query(link, world.stack.api_stage)
    session = api.sign_in(APPROVER, APPROVER_PASSWORD)
    for stripped in ({k: v for k, v in query.items() if k != "sig"}, {}):
        status, _, body = api.request(
            "GET", path, query=stripped, id_token=session, headers={"Accept": "application/json"}
        )
        assert status == 403, body
        assert "ApprovalLinkInvalid" in body or "ApprovalExpired" in body


@pytest.mark.parametrize("nonce", [None, "another-sign-ins-nonce"], ids=["without-nonce", "other-nonce"])
def test_a_token_not_issued_for_this_sign_ins_nonce_is_refused(world: World, nonce: str | None) -> None:
    api = world.runtime.api
    # Given a sign-in started by the login function (its round-trip cookie holds the nonce it sent)
    status, headers, _ = api.request("GET", "/auth/login", query={"return_to": f"/{world.stack.api_stage}/approvals"})
    assert status == 302
    jar = cookies_set(headers)
    parts = urlsplit(headers["Location"])
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    assert query["nonce"]
    # When the authorize request reaching the managed login lost its nonce or carries another
    query.pop("nonce")
    if nonce is not None:
        query["nonce"] = nonce
    tampered = parts._replace(query=urlencode(query)).geturl()
    callback = urlsplit(api.managed_login.authorize(tampered, username=APPROVER, password=APPROVER_PASSWORD))
    code_query = {k: v[-1] for k, v in parse_qs(callback.query).items()}
    status, headers, body = api.request("GET", "/auth/callback", query=code_query, cookies=jar)
    # Then the callback refuses the token Cognito issued for it and sets no session
    assert status == 403, body
    assert "nonce" in body
    assert SESSION_COOKIE not in cookies_set(headers)


def test_sign_out_clears_the_session(world: World) -> None:
    api = world.runtime.api
    status, headers, _ = api.request("POST", "/auth/logout")
    assert status == 303
    assert urlsplit(headers["Location"]).netloc == api.managed_login.domain_host
    assert cookies_set(headers) == {SESSION_COOKIE: "", LOGIN_COOKIE: ""}


def test_the_callback_refuses_a_user_outside_the_approvers_group(world: World) -> None:
    # Given a pool user who is not an approver, signing in through the login function
    with pytest.raises(AssertionError, match=r"/auth/callback answered 403: .*ApproverGroupMissing"):
        world.runtime.api.sign_in(OUTSIDER, APPROVER_PASSWORD)


# Last: the decision ends the run the link belongs to.
def test_a_signed_in_approver_decides_through_the_session(world: World, link: str) -> None:
    # Given the approver's browser, signed in through the login function and the managed login
    status, answer = world.decide(link, APPROVER, "reject", "parity: login journey")
    # Then the decision is recorded in their name
    assert status == 200, answer
    assert answer["status"] == "rejected"
    assert APPROVER in str(answer)
