"""Ground-truth labels and model quality (pure): the label file, the join by inference id, the gate."""

from __future__ import annotations

import base64
import json

import pytest

from governed_mlops_ml.quality import (
    LabelFileError,
    answers_of_record,
    judge_quality,
    parse_label_file,
)


def test_a_label_file_maps_inference_ids_to_labels() -> None:
    data = "\ufeffinference_id,label\r\nreq-1,good\r\nreq-2, bad \r\n\r\n".encode()
    assert parse_label_file(data, "labels.csv") == {"req-1": "good", "req-2": "bad"}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"id,outcome\nr1,good\n", "header is 'id,outcome'"),
        (b"inference_id,label\n", "no label rows"),
        (b"inference_id,label\nr1,good,extra\n", "line 2: 3 fields"),
        (b"inference_id,label\nr1,\n", "line 2: the label of 'r1' is empty"),
        (b"inference_id,label\nr1,good\nr1,bad\n", "line 3: inference id 'r1' appears twice"),
        (b"inference_id,label\n" + b"x" * 65 + b",good\n", "not 1-64 printable characters"),
        (b"inference_id,label\n\xff,good\n", "not UTF-8"),
    ],
)
def test_a_label_file_that_cannot_be_used_is_refused_naming_the_line(data: bytes, words: str) -> None:
    with pytest.raises(LabelFileError, match="labels.csv") as refused:
        parse_label_file(data, "labels.csv")
    assert words in str(refused.value)


def _record(inference_id: str | None, output: str, encoding: str = "JSON") -> dict[str, object]:
    meta = {"eventId": "e", "inferenceTime": "2026-12-05T00:00:00.000Z"}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    return {"captureData": {"endpointOutput": {"data": output, "encoding": encoding}}, "eventMetadata": meta}


def test_answers_are_keyed_by_inference_id_and_by_row_for_a_request_of_several_rows() -> None:
    one = json.dumps({"predictions": [{"score": 0.7, "decision": "approve"}]})
    two = json.dumps({"predictions": [{"score": 0.2}, {"score": 0.9}]})
    assert answers_of_record(_record("a", one)) == {"a": 0.7}
    assert answers_of_record(_record("b", two)) == {"b:1": 0.2, "b:2": 0.9}
    assert answers_of_record(_record("c", "0.25\n0.5\n", "CSV")) == {"c:1": 0.25, "c:2": 0.5}
    encoded = base64.b64encode(one.encode()).decode()
    assert answers_of_record(_record("e", encoded, "BASE64")) == {"e": 0.7}
    # No inference id, or an answer that cannot be read: nothing to judge
    assert answers_of_record(_record(None, one)) == {}
    assert answers_of_record(_record("d", "not a score", "CSV")) == {}


def judge(answers: dict[str, float], labels: dict[str, str], **overrides: object) -> dict[str, object]:
    options: dict[str, object] = {
        "positive_label": "good",
        "negative_labels": ["bad"],
        "threshold": 0.5,
        "registered_auc": 0.8,
        "max_auc_drop": 0.05,
        "min_labelled": 4,
    }
    return judge_quality(answers, labels, **(options | overrides)).to_json_dict()  # type: ignore[arg-type]


ANSWERS = {"a": 0.9, "b": 0.8, "c": 0.3, "d": 0.1, "e": 0.6}


def test_auc_and_accuracy_over_the_labelled_answers_pass_the_gate() -> None:
    verdict = judge(ANSWERS, {"a": "good", "b": "good", "c": "bad", "d": "bad", "x": "good"})
    assert (verdict["status"], verdict["labelled"], verdict["positives"]) == ("no_violations", 4, 2)
    assert (verdict["auc"], verdict["accuracy"]) == (1.0, 1.0)


def test_an_auc_further_below_the_registered_one_than_allowed_is_a_violation() -> None:
    verdict = judge(ANSWERS, {"a": "bad", "b": "good", "c": "good", "d": "bad", "e": "bad"}, min_labelled=5)
    assert verdict["status"] == "violations"
    assert verdict["auc"] == pytest.approx(0.5)
    assert "0.3000 below the registered 0.8000 (allowed drop 0.05)" in str(verdict["reason"])


def test_fewer_labelled_answers_than_the_minimum_or_one_outcome_only_give_no_verdict() -> None:
    few = judge(ANSWERS, {"a": "bad", "b": "bad", "c": "good"})
    assert (few["status"], few["auc"]) == ("insufficient_data", None)
    assert "3 labelled answers, 4 needed" in str(few["reason"])
    one_class = judge(ANSWERS, dict.fromkeys(ANSWERS, "good"))
    assert one_class["status"] == "insufficient_data"
    assert "same outcome" in str(one_class["reason"])


def test_a_label_that_is_neither_outcome_is_not_counted_and_is_reported() -> None:
    verdict = judge(ANSWERS, {"a": "good", "b": "Good", "c": "bad", "d": "bad", "e": "good"})
    assert verdict["labelled"] == 4
    assert verdict["unknown_labels"] == ["Good"]
