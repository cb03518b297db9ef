"""The documented path, end to end, on a credit dataset the repository has never seen.

The product promise: a new tabular credit CSV goes through exactly the README's commands,

    mlops models add NAME --data FILE --target COLUMN --positive-label VALUE
    mlops upload FILE --model NAME --wait --approve-as carol.approver --approve-as dave.risk

and comes out as an approved model serving on endpoint NAME. The CSV is generated here (seeded), with
column names neither example dataset uses, an id column, numeric and categorical features with a few
percent missing, a protected attribute whose historic labels breach the four-fifths rule, and a yes/no
target. The commands run as the installed ``mlops`` console script in a scratch checkout, so the
configuration lands in the scratch ``models/`` and never in the repository's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governed_mlops.config import PipelineConfig, parse_config

pytestmark = [pytest.mark.slow, pytest.mark.schedule_early]

REPO = Path(__file__).resolve().parents[2]
MLOPS = Path(sys.executable).with_name("mlops")
GERMAN_CSV = REPO / "data" / "german_credit" / "german_credit.csv"
#: What a checkout needs for the local runtime: the template and everything it and the jobs load.
CHECKOUT_PARTS = ("template.yaml", "statemachines", "functions", "layers", "jobs", "src")
APPROVERS = ("--approve-as", "carol.approver", "--approve-as", "dave.risk")
MODEL = "consumer-loans"
TARGET = "repaid"
ROWS = 1500


def unseen_credit_data(rows: int = ROWS, seed: int = 20261204) -> pd.DataFrame:
    """Consumer loans: an id, seven numeric and three categorical features, age and sex, target ``repaid``.

    Repayment follows income, debt, history and term (a learnable signal); applicants aged 25 or younger
    repay less often, partly through lower incomes and shorter employment and partly through a direct
    effect the features do not show, so the historic labels breach the four-fifths rule for them.
    About 4% of incomes, 3% of debt-to-income ratios and 3% of housing statuses are missing.
    """
    rng = np.random.default_rng(seed)
    age = np.clip(rng.gamma(2.2, 9.0, rows) + 18, 18, 85).round().astype(int)
    young = age <= 25
    sex = rng.choice(["F", "M"], rows, p=[0.45, 0.55])
    income = np.round(rng.lognormal(np.where(young, 7.6, 8.0), 0.45, rows), -1)
    years_employed = np.clip(rng.exponential(np.where(young, 1.5, 6.0), rows), 0, 45).round(1)
    amount = np.round(rng.lognormal(9.0, 0.7, rows), -2)
    term = rng.choice([12, 24, 36, 48, 60], rows, p=[0.15, 0.3, 0.3, 0.15, 0.1])
    debt_to_income = np.clip(rng.beta(2.0, 5.0, rows) + 0.05 * (sex == "F"), 0, 1).round(3)
    open_accounts = rng.poisson(4, rows)
    prior_defaults = rng.choice([0, 1, 2, 3], rows, p=[0.75, 0.15, 0.07, 0.03])
    home = rng.choice(["own", "rent", "mortgage", "family"], rows, p=[0.25, 0.35, 0.3, 0.1])
    purpose = rng.choice(["car", "debt_consolidation", "home_improvement", "education", "medical"], rows)
    employment = rng.choice(["salaried", "self_employed", "contract", "retired"], rows, p=[0.6, 0.15, 0.15, 0.1])
    logit = (
        1.2
        + 2.0 * (np.log(income) - 8.0)
        - 6.0 * (debt_to_income - 0.3)
        - 1.3 * prior_defaults
        - 0.03 * (term - 36)
        + 0.06 * np.minimum(years_employed, 15)
        - 0.4 * (np.log(amount) - 9.0)
        + np.select([home == "own", home == "mortgage", home == "family"], [0.3, 0.15, -0.1], -0.05)
        + np.select([purpose == "medical", purpose == "car"], [-0.3, 0.2], 0.0)
        - 0.35 * young
    )
    repaid = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "application_id": rng.permutation(np.arange(100_000, 100_000 + rows)),
            "age": age,
            "sex": sex,
            "monthly_income": income,
            "loan_amount": amount,
            "loan_term_months": term,
            "debt_to_income": debt_to_income,
            "years_with_employer": years_employed,
            "open_credit_lines": open_accounts,
            "prior_defaults": prior_defaults,
            "home_status": home,
            "loan_purpose": purpose,
            "employment_type": employment,
            TARGET: np.where(repaid, "yes", "no"),
        }
    )
    for column, share in (("monthly_income", 0.04), ("debt_to_income", 0.03), ("home_status", 0.03)):
        frame[column] = frame[column].astype(object).where(rng.random(rows) >= share, None)
    return frame


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A scratch checkout: this repository's code (linked), its own empty ``models/``.

    ``.git`` links to the repository's too: the code in the checkout is the repository's, so its commit
    is the code version the pipeline records (an upload needs one). The pipeline only reads it.
    """
    if not (REPO / ".git").exists():
        pytest.skip("the local pipeline records the checkout's commit: needs a git checkout of this repository")
    root = tmp_path / "checkout"
    (root / "models").mkdir(parents=True)
    for part in (*CHECKOUT_PARTS, ".git"):
        (root / part).symlink_to(REPO / part)
    return root


def mlops(checkout: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``mlops`` command as a person types it in the checkout, on the test's data directory."""
    # The test's own port: another test's server on the default port (another worker) would refuse the bind.
    env = {key: value for key, value in os.environ.items() if key != "MLOPS_DATA_DIR"} | {"MLOPS_PORT": _port(data_dir)}
    return subprocess.run(
        [str(MLOPS), "--data-dir", str(data_dir), *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


_PORTS: dict[Path, str] = {}


def _port(data_dir: Path) -> str:
    """A free port for the server the commands on ``data_dir`` start, the same for each of them."""
    if data_dir not in _PORTS:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            _PORTS[data_dir] = str(probe.getsockname()[1])
    return _PORTS[data_dir]


def _instance(row: pd.Series, features: list[str]) -> dict[str, Any]:
    """A raw request instance: the model's features as the CSV holds them, null where a value is missing."""
    return {name: None if pd.isna(row[name]) else row[name] for name in features}


def documented_path(
    checkout: Path, data_dir: Path, model: str, data_file: Path, *, target: str, positive_label: str
) -> PipelineConfig:
    """``mlops models add`` then ``mlops upload --wait`` with two approvers; the configuration it wrote.

    Asserts each command's exit code, that the configuration landed in the checkout (not the repository),
    that the model's one execution SUCCEEDED and that endpoint ``model`` is InService.
    """
    assert not (REPO / "models" / model).exists()
    onboard = ("models", "add", model, "--data", str(data_file), "--target", target, "--positive-label", positive_label)
    added = mlops(checkout, data_dir, *onboard)
    assert added.returncode == 0, added.stdout + added.stderr
    config_file = checkout / "models" / model / "config.yaml"
    config = parse_config(config_file.read_text(encoding="utf-8"), source=str(config_file))
    assert not (REPO / "models" / model).exists()

    uploaded = mlops(checkout, data_dir, "upload", str(data_file), "--model", model, "--wait", *APPROVERS)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    listed = mlops(checkout, data_dir, "executions", "--model", model, "--json")
    assert listed.returncode == 0, listed.stderr
    (execution,) = json.loads(listed.stdout)["executions"]
    assert execution["status"] == "SUCCEEDED", uploaded.stdout

    endpoints = mlops(checkout, data_dir, "endpoints", "--json")
    assert endpoints.returncode == 0, endpoints.stderr
    statuses = {e["EndpointName"]: e["EndpointStatus"] for e in json.loads(endpoints.stdout)["Endpoints"]}
    assert statuses == {model: "InService"}
    return config


def invoke(
    checkout: Path, data_dir: Path, model: str, instances: list[dict[str, Any]], *, decisions: tuple[str, str]
) -> list[float]:
    """``mlops invoke MODEL --body '{"instances": [...]}'``: the scores it answers, one per instance.

    Each answer also carries the decision (``decisions``: the dataset's favourable label at or above the
    threshold, its other label below: a model onboarded by ``models add`` names no ``approve``), the
    threshold, the registered version the endpoint serves (the first of a new model: MODEL/1) and its
    reason codes, which stderr spells out.
    """
    body = json.dumps({"instances": instances}, default=_json_number)
    invoked = mlops(checkout, data_dir, "invoke", model, "--body", body, "--content-type", "application/json")
    assert invoked.returncode == 0, invoked.stdout + invoked.stderr
    predictions = json.loads(invoked.stdout)["predictions"]
    assert [p["model_version"] for p in predictions] == [f"{model}/1"] * len(instances)
    for number, prediction in enumerate(predictions, start=1):
        assert prediction["decision"] == decisions[0 if prediction["score"] >= prediction["threshold"] else 1]
        assert f"row {number}: {prediction['decision']} (score {prediction['score']:.3f}" in invoked.stderr
        assert all(reason["text"] in invoked.stderr for reason in prediction["reasons"])
    return _scores(invoked.stdout)


def test_an_unseen_credit_csv_goes_from_models_add_to_a_serving_endpoint(checkout: Path, tmp_path: Path):
    # Given a credit CSV nobody has configured, and a checkout without a project for it
    frame = unseen_credit_data()
    data_file = tmp_path / "consumer_loans_2026.csv"
    frame.to_csv(data_file, index=False)
    data_dir = tmp_path / "mlops-data"
    # When it goes through the README's commands, approved by the two approvers a high tier needs
    config = documented_path(checkout, data_dir, MODEL, data_file, target=TARGET, positive_label="yes")
    # Then (the commands succeeded, the model serves and) the configuration left the id and the protected
    # attributes out of the model and gave the gaps per-column policies
    assert "application_id" not in config.dataset.features
    assert {"age", "sex"}.isdisjoint(config.dataset.features)
    assert set(config.dataset.missing) == {"monthly_income", "debt_to_income", "home_status"}
    # And the young applicants' facet was gated: its labels breach the four-fifths rule, so its DI limit is
    # "no amplification" (below 0.8), which the model met
    assert config.bias is not None
    young = config.bias.thresholds["age_25_or_younger"]
    assert set(young) == {"DPPL", "DI"}
    assert young["DI"].min is not None
    assert young["DI"].min < 0.8
    # And the endpoint scores raw applications with a missing value: numeric (allowed), categorical (imputed)
    rows = [frame[frame[column].isna()].iloc[0] for column in ("monthly_income", "home_status")]
    scores = invoke(
        checkout, data_dir, MODEL, [_instance(row, config.dataset.features) for row in rows], decisions=("yes", "no")
    )
    assert len(scores) == 2
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_german_credit_goes_the_documented_path_with_the_generated_configuration(checkout: Path, tmp_path: Path):
    # Given German credit, whose foreign_worker DPL (0.24 on the training split) and age label ratio (0.795)
    # made the generated configuration of earlier versions refuse it at the bias gate
    data_dir = tmp_path / "mlops-data"
    # When it goes through the README's commands under a new model name
    config = documented_path(
        checkout, data_dir, "german-onboarded", GERMAN_CSV, target="creditability", positive_label="good"
    )
    # Then it ends SUCCEEDED and serving (asserted above), foreign_worker reported but not gated
    assert config.bias is not None
    assert set(config.bias.thresholds) == {"sex", "age_25_or_younger"}
    row = pd.read_csv(GERMAN_CSV).iloc[0]
    instance = _instance(row, config.dataset.features) | {"credit_amount": None}
    (score,) = invoke(checkout, data_dir, "german-onboarded", [instance], decisions=("good", "bad"))
    assert 0.0 <= score <= 1.0

    # When a second model is onboarded while the server the first commands started still runs
    onboard = ("models", "add", "german-second", "--data", str(GERMAN_CSV), "--target", "creditability")
    added = mlops(checkout, data_dir, *onboard, "--positive-label", "good")
    assert added.returncode == 0, added.stdout + added.stderr
    uploaded = mlops(checkout, data_dir, "upload", str(GERMAN_CSV), "--model", "german-second")
    # Then the server publishes the new project before the upload: its run starts (no UnknownModelError)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    assert "No local server serves" not in uploaded.stdout + uploaded.stderr
    assert "(model german-second)" in uploaded.stdout, uploaded.stdout + uploaded.stderr


def _json_number(value: Any) -> Any:
    """numpy scalars from the frame as JSON numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")


def _scores(answer: str) -> list[float]:
    """The endpoint's scores: one per instance, as a CSV line or JSON predictions."""
    text = answer.strip()
    if text.startswith(("{", "[")):
        parsed = json.loads(text)
        predictions = parsed.get("predictions", parsed) if isinstance(parsed, dict) else parsed
        return [float(p["score"] if isinstance(p, dict) else p) for p in predictions]
    return [float(value) for line in text.splitlines() for value in line.split(",") if value]


def test_a_dataset_with_no_protected_attribute_goes_the_documented_path_with_bias_not_assessed(
    checkout: Path, tmp_path: Path
):
    # Given a real dataset with no column named like a protected attribute (Breast Cancer Wisconsin
    # (Diagnostic), bundled with scikit-learn: 569 rows, 30 numeric measurements, a text target)
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda name: name.replace(" ", "_"))
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    data_file = tmp_path / "breast_cancer.csv"
    frame.to_csv(data_file, index=False)
    data_dir = tmp_path / "mlops-data"
    # When it goes through the README's commands
    config = documented_path(
        checkout, data_dir, "tumour-triage", data_file, target="diagnosis", positive_label="benign"
    )
    # Then the configuration says why no bias facet is analysed (instead of leaving bias out, which the
    # pipeline refused at Prepare Data), and the run ended SUCCEEDED and serving (asserted above)
    assert config.bias is not None
    assert config.bias.facets == []
    reason = config.bias.not_assessed_reason
    assert reason is not None
    assert "breast_cancer.csv" in reason
    # And the evidence an approver reads says "not assessed" with that reason, not "not supplied"
    (report,) = data_dir.glob("s3/*/runs/*/evidence/tumour-triage-1/evidence_report.html")
    text = report.read_text(encoding="utf-8")
    assert "Not assessed" in text
    assert reason in text
    assert "No bias report was supplied" not in text
    card = json.loads(report.with_name("model_card.json").read_text(encoding="utf-8"))
    assert "Bias was not assessed" in json.dumps(card)
    # And the model card speaks of this model's outcome, not of credit applications
    assert "credit" not in json.dumps(card).lower()
    assert "P(benign)" in card["model_overview"]["model_description"]
    assert "diagnosis = 'benign'" in card["intended_uses"]["intended_uses"]
    scores = invoke(
        checkout,
        data_dir,
        "tumour-triage",
        [_instance(frame.iloc[0], config.dataset.features)],
        decisions=("benign", "malignant"),
    )
    assert len(scores) == 1


def bank_marketing_layout(rows: int = 1200, seed: int = 20261205) -> pd.DataFrame:
    """Term-deposit subscriptions in the layout of UCI's Bank Marketing files: ``age``, ``marital``, codes
    like ``admin.`` and ``basic.4y``, ``unknown`` as a category, ``pdays`` 999 for "never contacted", a
    dotted column name (``emp.var.rate``) and a yes/no target ``y``. Seeded synthetic values."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, rows)
    duration = rng.integers(0, 3000, rows)
    campaign = rng.integers(1, 20, rows)
    pdays = np.where(rng.random(rows) < 0.9, 999, rng.integers(0, 27, rows))
    logit = -2 + 0.002 * duration - 0.1 * campaign + 1.5 * (pdays < 999)
    return pd.DataFrame(
        {
            "age": age,
            "job": rng.choice(["admin.", "blue-collar", "technician", "services", "retired", "unknown"], rows),
            "marital": rng.choice(["married", "single", "divorced", "unknown"], rows),
            "education": rng.choice(["basic.4y", "high.school", "university.degree", "unknown"], rows),
            "default": rng.choice(["no", "unknown", "yes"], rows, p=[0.8, 0.19, 0.01]),
            "duration": duration,
            "campaign": campaign,
            "pdays": pdays,
            "emp.var.rate": rng.choice([1.1, 1.4, -0.1, -1.8, -2.9], rows),
            "y": np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no"),
        }
    )


def test_a_semicolon_separated_file_goes_the_documented_path(checkout: Path, tmp_path: Path):
    # Given a file exported as UCI's Bank Marketing files are: semicolons between fields, every field quoted
    frame = bank_marketing_layout()
    data_file = tmp_path / "bank-additional.csv"
    frame.to_csv(data_file, sep=";", index=False, quoting=1)
    data_dir = tmp_path / "mlops-data"
    # When it goes through the README's commands, unchanged
    config = documented_path(checkout, data_dir, "term-deposits", data_file, target="y", positive_label="yes")
    # Then the configuration records the separator, and the model (SUCCEEDED and serving, asserted above)
    # learned from every column the file holds
    assert config.dataset.delimiter == ";"
    assert "emp.var.rate" in config.dataset.features
    assert {"age", "marital"}.isdisjoint(config.dataset.features)
    (score,) = invoke(
        checkout,
        data_dir,
        "term-deposits",
        [_instance(frame.iloc[0], config.dataset.features)],
        decisions=("yes", "no"),
    )
    assert 0.0 <= score <= 1.0


def adult_layout(rows: int = 3000, seed: int = 7) -> str:
    """Incomes in the layout of UCI's Adult files: a space after every comma, ``?`` for an unknown value,
    dashed column names, race, sex and native country, and the target ``income`` as ``>50K`` / ``<=50K``.
    Seeded synthetic values; the file's text, as UCI publishes it (pandas cannot write the padding)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(17, 90, rows)
    education = rng.integers(1, 17, rows)
    hours = rng.integers(1, 99, rows)
    gain = np.where(rng.random(rows) < 0.08, rng.integers(1000, 99999, rows), 0)
    logit = -4 + 0.35 * education + 0.03 * (hours - 40) + 2 * (gain > 0)
    columns = {
        "age": age,
        "workclass": rng.choice(["Private", "Self-emp-not-inc", "Local-gov", "?", "State-gov"], rows),
        "fnlwgt": rng.integers(10000, 900000, rows),
        "education-num": education,
        "marital-status": rng.choice(["Married-civ-spouse", "Never-married", "Divorced", "Widowed"], rows),
        "race": rng.choice(["White", "Black", "Asian-Pac-Islander", "Other"], rows, p=[0.85, 0.09, 0.04, 0.02]),
        "sex": rng.choice(["Male", "Female"], rows, p=[0.67, 0.33]),
        "capital-gain": gain,
        "hours-per-week": hours,
        "native-country": rng.choice(["United-States", "Mexico", "?", "Philippines"], rows, p=[0.9, 0.04, 0.02, 0.04]),
        "income": np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), ">50K", "<=50K"),
    }
    lines = [",".join(columns), *(", ".join(map(str, row)) for row in zip(*columns.values(), strict=True))]
    return "\n".join(lines) + "\n"


def test_a_file_with_a_space_after_every_comma_goes_the_documented_path(checkout: Path, tmp_path: Path):
    # Given a file written as UCI's Adult data is ("39, State-gov, 77516, ...")
    data_file = tmp_path / "adult.data.csv"
    data_file.write_text(adult_layout(), encoding="utf-8")
    data_dir = tmp_path / "mlops-data"
    # When it goes through the README's commands with the label as people write it (no leading space)
    config = documented_path(checkout, data_dir, "income-band", data_file, target="income", positive_label=">50K")
    # Then the padding is not part of any value: the facets name the groups as written, and a request with
    # the values as people write them scores (SUCCEEDED and serving asserted above)
    assert config.dataset.skip_initial_space
    assert config.bias is not None
    sexes = {facet.name: facet.values for facet in config.bias.facets}
    assert sexes["sex"] == ["Female"]
    request = {"workclass": "Private", "education-num": 13, "marital-status": "Never-married", "fnlwgt": 77516}
    instance = {name: request.get(name) for name in config.dataset.features}
    (score,) = invoke(checkout, data_dir, "income-band", [instance], decisions=(">50K", "<=50K"))
    assert 0.0 <= score <= 1.0
