# Two entry points on a fresh machine with only Python 3.11: `make demo` and `make test`.
# Everything else (uv, the locked virtualenv, the SAM CLI tool env, Chromium) is installed here.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
UV := .tools/uv/bin/uv
VENV := .venv
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv
export PIP_CACHE_DIR ?= $(CURDIR)/.cache/pip
export XDG_CACHE_HOME ?= $(CURDIR)/.cache
export MPLCONFIGDIR ?= $(CURDIR)/.cache/matplotlib
export SAM_CLI_TELEMETRY := 0
export DO_NOT_TRACK := 1
export AWS_DEFAULT_REGION ?= us-east-1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint typecheck static unit integration parity browser chromium bench sam-build deploy-tools clean help
help:
	@echo "make demo   - bootstrap and run the local end-to-end pipeline on German credit"
	@echo "make test   - bootstrap, then every static check and every test"
	@echo "make bench  - run the benchmarks and write benchmarks/results/summary.json"
	@echo "make unit | integration | parity | browser - one test tier"

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode compiled once at install: where PYTHONDONTWRITEBYTECODE is set (this sandbox, many CI images) every
# process would otherwise compile pandas, matplotlib, xgboost... again (about 3 s of CPU per fresh process).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q layers src jobs functions >/dev/null
	@touch $@

.tools/sam/bin/sam: tools/sam-cli.lock.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .tools/sam
	$(UV) pip install --quiet --compile-bytecode --python .tools/sam/bin/python -r tools/sam-cli.lock.txt
	@touch $@

# Static-check tools, each in its own environment from its lock file (uv pip compile --python-version 3.11).
.tools/checkov/bin/checkov: tools/checkov.lock.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .tools/checkov
	$(UV) pip install --quiet --compile-bytecode --python .tools/checkov/bin/python -r tools/checkov.lock.txt
	@touch $@

.tools/statelint/bin/statelint: tools/statelint.lock.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .tools/statelint
	$(UV) pip install --quiet --compile-bytecode --python .tools/statelint/bin/python -r tools/statelint.lock.txt
	@touch $@

# sagemaker-core (the SDK's image URI tables) for `mlops deploy-params`; ~450 MB, so not part of `make test`.
.tools/sagemaker-sdk/.installed: tools/sagemaker-sdk.lock.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .tools/sagemaker-sdk
	$(UV) pip install --quiet --compile-bytecode --python .tools/sagemaker-sdk/bin/python -r tools/sagemaker-sdk.lock.txt
	@touch $@

deploy-tools: .tools/sam/bin/sam .tools/sagemaker-sdk/.installed

demo: $(VENV)/.synced
	$(VENV)/bin/mlops demo --approve-as carol.approver --approve-as dave.risk

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy
	# Each handler is its own module named app; Powertools decorators are untyped, so those two codes are off.
	for app in functions/*/app.py; do $(VENV)/bin/mypy --strict --ignore-missing-imports --disable-error-code untyped-decorator --disable-error-code no-any-return "$$app" || exit 1; done

STATIC_DIR := .cache/static
static: .tools/sam/bin/sam .tools/checkov/bin/checkov .tools/statelint/bin/statelint
	.tools/sam/bin/sam validate --lint --template template.yaml
	.tools/sam/bin/cfn-lint template.yaml
	@# checkov reads the template as CloudFormation will deploy it: SAM policy templates, Globals and
	@# event sources expanded (on the SAM form it misses wildcard IAM and most of the generated roles).
	.tools/sam/bin/python tools/transform_template.py template.yaml -o $(STATIC_DIR)/template.cfn.json
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE .tools/checkov/bin/checkov --quiet --compact \
		--skip-download --framework cloudformation -f $(STATIC_DIR)/template.cfn.json
	@# URI: Lambda resources are ${...}Arn substitutions until deploy time. FLOAT: statelint wants
	@# BackoffRate written as 2.0; Step Functions accepts any number >= 1.0 and JSON does not tell them apart.
	.tools/statelint/bin/statelint --ignore=URI,FLOAT statemachines/*.asl.json

# Tests run in a random order (pytest-randomly): the header prints "Using --randomly-seed=N"; rerun that order with
# e.g. `make unit PYTEST_ARGS=--randomly-seed=N` (or `-p no:randomly` for file order while bisecting).
PYTEST_ARGS ?=

# Two sessions, both in random order (seed printed): the unit tier with sockets off (pytest-socket's switch is
# process-wide, so a session fixture's server thread in the same worker would lose its sockets), then every other
# tier together (integration, parity, browser, e2e): one session has one tail, where a worker that has run out of
# files waits for the other's last one. Each file stays on one worker (--dist loadfile): a parity module's world
# (the stack deployed into moto) is module-scoped and would otherwise be deployed twice. --no-loadscope-reorder:
# modules go to workers in collection order, where tests/conftest.py puts the modules marked schedule_early (they
# take minutes) first and the short ones last, to fill both tails (xdist's default order is by test count).
# Three workers on two cores for the tiers that run pipelines: their tests also wait (approval timeouts, canary
# bakes, a job's end), and a third worker fills those gaps (12 min 31 s against 14 min 19 s with two, same machine,
# 2026-12-06; CPU idle 5 %). The unit tier never waits: one worker per core.
RUN_WORKERS ?= 3
test: $(VENV)/.synced lint typecheck static
	$(VENV)/bin/pytest -n 2 --dist loadfile $(PYTEST_ARGS) tests/unit
	$(VENV)/bin/pytest -n $(RUN_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS) --ignore=tests/unit

# One tier at a time (make test runs them all).
unit: $(VENV)/.synced
	$(VENV)/bin/pytest -n 2 --dist loadfile $(PYTEST_ARGS) tests/unit

integration: $(VENV)/.synced
	$(VENV)/bin/pytest -n $(RUN_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS) tests/integration

# template.yaml deployed into moto, every handler with MLOPS_BACKEND=aws under its own role, every call IAM-checked.
parity: $(VENV)/.synced
	$(VENV)/bin/pytest -n $(RUN_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS) tests/parity

# Headless Chromium from the Debian package (`playwright install` cannot download here); axe-core, the
# accessibility check, ships inside the axe-playwright-python wheel that `uv sync` installs.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Approver journeys and on-call pages in Chromium, each page checked with axe-core; screenshots and axe
# results per test under test-results/.
browser: $(VENV)/.synced chromium
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests/browser

sam-build: .tools/sam/bin/sam
	PATH="$$(dirname $$(readlink -f $(PYTHON))):$$PATH" .tools/sam/bin/sam build --template template.yaml

bench: $(VENV)/.synced
	$(VENV)/bin/python benchmarks/e2e_local.py
	$(VENV)/bin/python benchmarks/burst.py
	$(VENV)/bin/python benchmarks/endpoint_load.py --rate 200 --seconds 10
	$(VENV)/bin/python benchmarks/ml_floor.py --json
	$(VENV)/bin/python benchmarks/cli_timing.py
	$(VENV)/bin/python benchmarks/summary.py

clean:
	rm -rf .mlops .aws-sam .pytest_cache .mypy_cache .ruff_cache
