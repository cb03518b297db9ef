"""``mlops models add``: onboarding real and messy credit CSVs into a model project of a scratch checkout.

Each test runs the command in a temporary project (a directory with template.yaml and statemachines/,
which is how the CLI finds a checkout), then checks that the written configuration parses, resolves
as a model project, holds the expected features and facets, and lets the Validate Data stage pass the
very CSV it was inferred from.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from governed_mlops import model_projects
from governed_mlops.config import PipelineConfig, parse_config
from governed_mlops.domain.validation import validate_dataset
from governed_mlops.models import ObjectDigest, S3Ref
from governed_mlops_local.cli.models_add import models_add

REPO = Path(__file__).resolve().parents[2]
GERMAN_CSV = REPO / "data" / "german_credit" / "german_credit.csv"
SYNTHETIC_CSV = REPO / "data" / "synthetic_lending" / "synthetic_lending.csv"
PROTECTED_GERMAN_COLUMNS = {"personal_status_and_sex", "age_in_years", "foreign_worker"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch checkout, made the working directory so the command writes its models/ and nothing else."""
    root = tmp_path / "checkout"
    (root / "statemachines").mkdir(parents=True)
    (root / "template.yaml").write_text("# scratch project for mlops models add\n")
    monkeypatch.chdir(root)
    return root


def _add(name: str, data: Path, target: str, positive: str, *extra: str) -> Result:
    args = [name, "--data", str(data), "--target", target, "--positive-label", positive, *extra]
    return CliRunner().invoke(models_add, args, catch_exceptions=False)


def _written(project: Path, name: str) -> PipelineConfig:
    path = project / "models" / name / "config.yaml"
    config = parse_config(path.read_text(encoding="utf-8"), source=str(path))
    loaded, spec = model_projects.load_project(project, name)
    assert loaded == config
    assert spec.endpoint_name == name
    return config


def _assert_validation_passes(data: bytes, config: PipelineConfig) -> None:
    digest = ObjectDigest(
        ref=S3Ref(bucket="governed-mlops-data", key="datasets/x/data.csv"),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    report = validate_dataset(data, config, digest)
    assert report.passed, [issue.message for issue in report.issues]


def _facets(config: PipelineConfig) -> dict[str, tuple[str, list[str] | None, float | None]]:
    assert config.bias is not None
    return {f.name: (f.column, f.values, f.threshold) for f in config.bias.facets}


def test_german_credit_onboards_without_its_protected_attributes(project: Path):
    # Given the German credit CSV, which credit-risk's hand-written configuration also describes
    reference = parse_config((REPO / "models" / "credit-risk" / "config.yaml").read_text())
    # When it is onboarded
    result = _add("german-credit", GERMAN_CSV, "creditability", "good")
    # Then the command succeeds and names the next step
    assert result.exit_code == 0, result.output
    assert f"mlops upload {GERMAN_CSV} --model german-credit --wait" in result.output
    config = _written(project, "german-credit")
    # And the features are credit-risk's, less the protected attributes (kept for bias analysis only)
    expected_numeric = [f for f in reference.dataset.numeric_features if f not in PROTECTED_GERMAN_COLUMNS]
    expected_categorical = [f for f in reference.dataset.categorical_features if f not in PROTECTED_GERMAN_COLUMNS]
    assert config.dataset.numeric_features == expected_numeric
    assert config.dataset.categorical_features == expected_categorical
    assert _facets(config) == {
        "sex": ("personal_status_and_sex", ["female : divorced/separated/married"], None),
        "age_25_or_younger": ("age_in_years", None, 25.0),
        "foreign_worker": ("foreign_worker", ["yes"], None),
    }
    assert config.model.risk_tier == "high"
    # And the model's outcomes are gated: sex at the policy, age with no amplification of its labels (ratio
    # 0.795 under four-fifths, gap 0.149 within 0.1 of 20 points), foreign workers not at all (about 9
    # non-foreign rows in the hold-out)
    assert config.bias is not None
    assert {
        facet: {metric: (limit.min, limit.max) for metric, limit in metrics.items()}
        for facet, metrics in config.bias.thresholds.items()
    } == {
        "sex": {"DPPL": (-0.2, 0.2), "DI": (0.8, 1.25)},
        "age_25_or_younger": {"DPPL": (-0.2, 0.25), "DI": (0.694, 1.25)},
    }
    assert "DI [0.694, 1.25] (no amplification: review)" in result.output
    assert "label ratio 0.795" in result.output
    assert "breaches the four-fifths rule" in result.output
    assert "bias facet foreign_worker: facet a (the rest) has 37 rows, about 9 in the hold-out" in result.output
    assert "Attribution not recorded" in result.output
    _assert_validation_passes(GERMAN_CSV.read_bytes(), config)


def test_synthetic_lending_onboards_to_its_hand_written_features_and_facets(project: Path):
    reference = parse_config((REPO / "models" / "synthetic-lending" / "config.yaml").read_text())
    result = _add(
        "lending", SYNTHETIC_CSV, "loan_status", "repaid", "--risk-tier", "medium", "--attribution", "Synthetic."
    )
    assert result.exit_code == 0, result.output
    config = _written(project, "lending")
    assert config.dataset.numeric_features == reference.dataset.numeric_features
    assert config.dataset.categorical_features == reference.dataset.categorical_features
    assert _facets(config) == {"sex": ("gender", ["female"], None), "age_25_or_younger": ("applicant_age", None, 25.0)}
    assert (config.model.risk_tier, config.dataset.attribution) == ("medium", "Synthetic.")
    assert "1 approval(s)" in result.output
    _assert_validation_passes(SYNTHETIC_CSV.read_bytes(), config)


def _messy_csv(rows: int = 600, seed: int = 3) -> bytes:
    """Ids, a date, free text, a constant, a target copy, gaps, a 0/1 flag, zero-padded codes, a yes/no target."""
    rng = random.Random(seed)
    header = [
        "Customer ID",
        "application_date",
        "Age",
        "Gender",
        "income",
        "loan_amount",
        "employment_type",
        "home",
        "has_guarantor",
        "branch_code",
        "country",
        "notes",
        "approved_copy",
        "repaid",
    ]
    records = []
    for i in range(rows):
        age, amount, guarantor = rng.randint(19, 70), rng.randint(500, 40000), rng.choice(["0", "1"])
        income = "" if rng.random() < 0.08 else f"{rng.uniform(12000, 150000):.2f}"
        chance = 0.95 - amount / 50000 + (0.1 if guarantor == "1" else 0)
        repaid = "yes" if rng.random() < chance else "no"
        records.append(
            [
                f"C{i:05d}",
                f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                str(age),
                rng.choice(["F", "M"]),
                income,
                str(amount),
                "" if rng.random() < 0.03 else rng.choice(["salaried", "self-employed", "contract"]),
                "" if rng.random() < 0.12 else rng.choice(["own", "rent", "mortgage"]),
                guarantor,
                rng.choice(["007", "012", "020", "101"]),
                "DE",
                f"call back on {rng.randint(1, 10**6)} about the file",
                repaid,
                repaid,
            ]
        )
    records += [[f"D{k:05d}", *records[k][1:]] for k in range(9)]  # the same application under a new id
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *records])
    return out.getvalue().encode()


def test_a_messy_csv_onboards_and_passes_validation(project: Path, tmp_path: Path):
    data = _messy_csv()
    path = tmp_path / "messy export.csv"
    path.write_bytes(data)
    result = _add("messy", path, "repaid", "yes")
    assert result.exit_code == 0, result.output
    config = _written(project, "messy")
    dataset = config.dataset
    assert dataset.positive_label == "yes"
    assert dataset.numeric_features == ["income", "loan_amount", "has_guarantor"]
    assert dataset.categorical_features == ["employment_type", "home", "branch_code"]
    assert {c: (m.policy, m.max_fraction is not None) for c, m in dataset.missing.items()} == {
        "income": ("allow", True),
        "employment_type": ("impute-mode", True),
        "home": ("allow", True),
    }
    assert _facets(config) == {"age_25_or_younger": ("Age", None, 25.0), "sex": ("Gender", ["F"], None)}
    for column, reason in [
        ("Customer ID", "identifier"),
        ("application_date", "a date"),
        ("country", "constant"),
        ("notes", "free text"),
        ("approved_copy", "leaks the target"),
    ]:
        assert f"{column}  - {reason}" in result.output
    # The nine re-keyed duplicates (1.5%) are within the duplicate limit chosen for them
    assert config.validation.max_duplicate_fraction > 9 / 609
    _assert_validation_passes(data, config)
    assert f"mlops upload '{path}' --model messy --wait" in result.output  # quoted for the shell


def test_an_existing_project_is_not_overwritten_without_force(project: Path):
    config_path = project / "models" / "german-credit" / "config.yaml"
    config_path.parent.mkdir(parents=True)
    config_path.write_text("# hand-edited\n")
    refused = _add("german-credit", GERMAN_CSV, "creditability", "good")
    assert refused.exit_code == 2
    assert "error: models/german-credit/config.yaml already exists" in refused.stderr
    assert config_path.read_text() == "# hand-edited\n"
    forced = _add("german-credit", GERMAN_CSV, "creditability", "good", "--force")
    assert forced.exit_code == 0, forced.output
    assert _written(project, "german-credit").dataset.target == "creditability"


@pytest.mark.parametrize(
    ("name", "target", "positive", "message"),
    [
        ("german-credit", "credit", "good", "did you mean 'creditability'"),
        ("german-credit", "creditability", "yes", "'good' (700), 'bad' (300)"),
        ("german-credit", "purpose", "car (new)", "10 distinct values"),
        ("German_Credit", "creditability", "good", "not a valid model name"),
    ],
)
def test_errors_exit_2_with_the_reason_and_write_nothing(
    project: Path, name: str, target: str, positive: str, message: str
):
    result = _add(name, GERMAN_CSV, target, positive)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert not (project / "models").exists()


def test_without_a_protected_attribute_the_config_analyses_no_facet_and_says_why(project: Path, tmp_path: Path):
    path = tmp_path / "plain.csv"
    rows = [
        f"{500 + 37 * i % 9000},{['car', 'tv', 'home'][i % 3]},{'bad' if i % 4 == 0 else 'good'}" for i in range(300)
    ]
    path.write_text("amount,purpose,status\n" + "\n".join(rows) + "\n")
    result = _add("plain", path, "status", "good")
    assert result.exit_code == 0, result.output
    bias = _written(project, "plain").bias
    assert bias is not None
    assert bias.facets == []
    assert bias.not_assessed_reason is not None
    assert "plain.csv" in bias.not_assessed_reason
    assert "Bias facets: none." in result.output
    assert "no protected attribute" in result.output
