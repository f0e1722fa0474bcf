# BBWS promotion backend: build, local estate, tests, demo.
# Every target installs what it needs (Python venv with pinned packages, npm packages) on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := $(CURDIR)/.venv
PY        := $(VENV)/bin/python
STATE     := $(CURDIR)/local/.state
CARGO_LAMBDA_FLAGS := --release --disable-optimizations --output-format zip --compiler cargo
# The promotion Lambdas (functions/*) and the estate's own probe.
LAMBDA_PACKAGES := bbws-local-probe $(sort $(shell sed -n 's/^name = "\(bbws-[a-z-]*\)"/\1/p' functions/*/Cargo.toml))

export BBWS_LOCAL_STATE := $(STATE)
export PYTHONPATH := $(CURDIR)/local
export PATH := $(VENV)/bin:$(PATH)

.PHONY: help venv npm lambdas estate up down status env mail demo demo-release showcase test lint fmt-check clippy unit \
        test-local tf-check asl-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## the project virtualenv (moto 5.2.5, awslambdaric, cargo-lambda, pytest)
$(VENV)/.installed: local/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r local/requirements.txt
	touch $@

lambdas: venv ## build every Lambda zip with cargo-lambda (target/lambda/<name>/bootstrap.zip)
	cargo lambda build $(CARGO_LAMBDA_FLAGS) $(addprefix -p ,$(LAMBDA_PACKAGES))

npm: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

estate: venv npm ## start the emulator only (idempotent; IAM is evaluated by node_modules/@cloud-copilot/iam-simulate)
	@$(PY) -m bbws_local.ctl up

up: lambdas estate ## the local estate with the pipeline applied to DEV, SIT and PROD (idempotent)
	@$(PY) -m bbws_local.pipeline
	@$(PY) -m bbws_local.ctl env

down: venv ## stop the local estate and every process it started
	@$(PY) -m bbws_local.ctl down

status: venv ## what the local estate runs now
	@$(PY) -m bbws_local.ctl status

env: venv ## the export line for the AWS CLI profiles bbws-dev, bbws-sit, bbws-prod
	@$(PY) -m bbws_local.ctl env

mail: venv ## the local mailbox, newest last (MAIL_TO=address to filter)
	@$(PY) -m bbws_local.mailbox $(MAIL_TO)

demo: up ## DEV -> SIT, SIT -> PROD and a rollback of the tenant service, state by state
	@$(PY) local/demo.py

demo-release: up ## a short release of two services into SIT, then a manual rollback of one
	@$(PY) local/demo_release.py

showcase: lambdas estate ## a walk through the emulator itself (accounts, code copy, task token, mail)
	@$(PY) local/showcase.py

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

unit: ## Rust unit tests (no AWS)
	cargo test --workspace

tf-check: ## terraform fmt -check and validate of every root
	terraform fmt -check -recursive infra
	@for root in infra/envs/*; do \
	  (cd $$root && terraform init -backend=false -input=false -plugin-dir=/opt/tf-plugins >/dev/null && \
	   terraform validate -no-color) || exit 1; \
	done

asl-check: venv npm ## every state machine rendered as Terraform does, then asl-validator
	@$(PY) local/asl_check.py

test-local: up ## integration tests on the local estate (boto3, real HTTP)
	$(PY) -m pytest -q local/tests
	$(PY) -m pytest -q tests

lint: fmt-check clippy tf-check asl-check

test: lint unit test-local ## everything CI runs
