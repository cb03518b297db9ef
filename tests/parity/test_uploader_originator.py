"""Who uploaded a dataset decides who may approve its model: CloudTrail's record → the run's approval.

End to end on a parity stack deployed with ``SourceIdentityRoleArns`` naming the role engineers upload
datasets with (its trust policy requires ``sts:SourceIdentity`` to be the identity provider's user
name): an upload's ``Object Created`` event starts the run, CloudTrail's data event of the PutObject
follows on the bus and the trigger keeps who signed it in the audit bucket; when the run reaches
Request Approval, the approval record's originator is read back from there. The uploader, although
an approver, is refused; another approver is accepted. An upload no person can be resolved from (the
account) needs two distinct approvers, and the page says why.

``credit-risk`` has no champion on this stack, so each run goes straight from its gates to approval.
Every run is ended by a rejection, so the next one has no champion either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from moto.core import DEFAULT_ACCOUNT_ID

from governed_mlops.domain.approval import csrf_token
from tests.dataset_variants import reexported
from tests.parity.world import APPROVER_PASSWORD, GERMAN_CREDIT, MODEL, World, parity_world

pytestmark = [pytest.mark.parity, pytest.mark.schedule_early]

UPLOADER_ROLE = "dataset-uploaders"
UPLOADER_ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{UPLOADER_ROLE}"
ENGINEER = "erin.engineer"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    parameters = {"SourceIdentityRoleArns": UPLOADER_ROLE_ARN}
    with parity_world(tmp_path_factory.mktemp("parity-uploader"), "gm-uploader", parameters) as active:
        assert active.stack.account_id == DEFAULT_ACCOUNT_ID
        # The role engineers upload with: only a session whose source identity is set may assume it
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:saml-provider/corporate-idp"},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:SetSourceIdentity"],
                    "Condition": {"StringLike": {"sts:SourceIdentity": "${saml:sub}"}},
                }
            ],
        }
        active.client("iam").create_role(RoleName=UPLOADER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        # The engineer is an approver too: only segregation of duties stops her approving her own upload
        active.runtime.api.create_user(ENGINEER, APPROVER_PASSWORD, groups=(active.stack.parameters["ApproverGroup"],))
        yield active


def _upload(world: World, name: str, copy: int, identity: dict[str, Any] | None) -> tuple[str, str, str]:
    """A new version of German credit (same rows, new bytes) uploaded as ``identity``: (execution, link, record)."""
    key = world.data_key(name, model=MODEL)
    before = len(world.runtime.trail_deliveries)
    deliveries = world.runtime.upload(
        world.data_bucket,
        key,
        reexported(GERMAN_CREDIT.read_bytes(), copy),
        requester=world.stack.account_id,
        identity=identity,
    )
    assert [(d.target, d.error_type) for d in deliveries] == [("TriggerFunction", None)], deliveries
    (run,) = deliveries[0].result["runs"]
    # CloudTrail's record of the PutObject followed; the trigger kept who signed it
    (recorded,) = world.runtime.trail_deliveries[before:]
    assert (recorded.target, recorded.error_type) == ("TriggerFunction", None), recorded
    execution_arn = str(run["execution_arn"])
    return execution_arn, world.approval_link(execution_arn), str(recorded.result["recorded_upload"])


def _forged_decision(world: World, link: str, approver: str) -> tuple[int, dict[str, Any]]:
    """``approver`` POSTs an approval with a valid CSRF token (computed from the signing secret, as if the page
    had issued one): only the API's own segregation-of-duties check can refuse it."""
    token = world.runtime.api.sign_in(approver, APPROVER_PASSWORD)
    parts = urlsplit(link)
    path = parts.path.removeprefix(f"/{world.stack.api_stage}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    approval_id = path.rstrip("/").rsplit("/", 1)[-1]
    secret = world.client("secretsmanager").get_secret_value(SecretId=world.stack.ref("ApprovalSigningSecret"))[
        "SecretString"
    ]
    form = {"decision": "approve", "reason": "mine", "csrf_token": csrf_token(secret.encode(), approval_id, approver)}
    status, _, body = world.runtime.api.request(
        "POST",
        f"{path}/decision",
        id_token=token,
        body=json.dumps(form | query),
        headers={"Accept": "application/json", "Content-Type": "application/json"},
    )
    return status, json.loads(body)


def test_an_engineers_upload_makes_her_the_originator_who_may_not_approve(world: World) -> None:
    # Given erin signed in through the identity provider: the role session carries her source identity
    session = f"arn:aws:sts::{DEFAULT_ACCOUNT_ID}:assumed-role/{UPLOADER_ROLE}/any-name-the-caller-chose"
    erin = {
        "type": "AssumedRole",
        "arn": session,
        "accountId": DEFAULT_ACCOUNT_ID,
        "sessionContext": {
            "sourceIdentity": ENGINEER,
            "sessionIssuer": {"type": "Role", "arn": UPLOADER_ROLE_ARN, "userName": UPLOADER_ROLE},
        },
    }
    mark = world.mark()

    # When she uploads a dataset and its run asks for approval
    execution_arn, link, recorded = _upload(world, "german_credit_erin.csv", 3, erin)

    # Then the approval record names her as the originator, from her upload's CloudTrail record
    status, page = world.view(link, "carol.approver")
    assert status == 200, page
    approval = page["approval"]
    assert approval["originator"] == ENGINEER
    assert "sts:SourceIdentity" in approval["originator_evidence"]
    assert "CloudTrail event" in approval["originator_evidence"]
    assert recorded.startswith(f"s3://{world.data_bucket}/{world.data_key('german_credit_erin.csv')}?versionId=")
    # And her page offers her no decision, saying why
    status, own = world.view(link, ENGINEER)
    assert status == 200, own
    assert (own["may_decide"], "csrf_token" in own) == (False, False)
    assert ENGINEER in own["why_not"]
    # And her approval is refused by the API itself (403), even with a valid form token
    status, answer = _forged_decision(world, link, ENGINEER)
    assert (status, answer["error"]) == (403, "ApprovalForbidden"), answer
    assert f"{ENGINEER} triggered this run and may not approve its model" in answer["message"]
    # While another approver's approval is accepted (one more needed: the tier asks two)
    status, answer = world.decide(link, "carol.approver", "approve")
    assert status == 202, answer
    # (ended by a rejection: the next run meets no champion)
    status, answer = world.decide(link, "dave.risk", "reject", "parity: end of the scenario")
    assert status == 200, answer
    assert world.runtime.wait(execution_arn)["status"] == "FAILED"
    world.assert_allowed(mark)


def test_an_upload_no_person_is_resolved_from_needs_four_eyes_and_the_page_says_why(world: World) -> None:
    mark = world.mark()

    # When the account itself uploads (CloudTrail names the account root: no person)
    execution_arn, link, _ = _upload(world, "german_credit_account.csv", 4, None)

    # Then no originator, two distinct approvers, and why
    status, page = world.view(link, "carol.approver")
    assert status == 200, page
    approval = page["approval"]
    assert (approval["originator"], approval["approvals_required"]) == (None, 2)
    assert "an AWS account, not a person" in approval["originator_evidence"]
    token = world.runtime.api.sign_in("carol.approver", APPROVER_PASSWORD)
    parts = urlsplit(link)
    status, _, body = world.runtime.api.request(
        "GET",
        parts.path.removeprefix(f"/{world.stack.api_stage}"),
        id_token=token,
        query={k: v[-1] for k, v in parse_qs(parts.query).items()},
        headers={"Accept": "text/html"},
    )
    html = body.decode() if isinstance(body, bytes) else str(body)
    assert status == 200
    assert "<strong data-testid='four-eyes'>Four-eyes:</strong> no person could be verified as the cause" in html
    assert "so two distinct approvers are required (four-eyes)" in html
    status, answer = world.decide(link, "dave.risk", "reject", "parity: end of the scenario")
    assert status == 200, answer
    assert world.runtime.wait(execution_arn)["status"] == "FAILED"
    world.assert_allowed(mark)
