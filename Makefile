# Two entry points: `make demo` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
AZURITE_VERSION := 3.35.0
export AZURE_CORE_COLLECT_TELEMETRY := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-pacing test-fast test-mincli venv mincli-venv tools wheel bench bench-quick bench-ab bench-apply calls clean \
        down lint lint-venv \
        linter-exclusions

$(BIN)/.installed: requirements-dev.txt setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install -q -r requirements-dev.txt 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import azure.cli.core, kubernetes, trustme, azure.mgmt.kubernetesconfiguration"
	test -x $(BIN)/kubectl
	touch $@

venv: $(BIN)/.installed

# The lint tools (azdev, pylint, flake8) in a venv of their own, so .venv stays as requirements-dev.txt says.
LINT_VENV := .venv-lint
$(LINT_VENV)/.installed: requirements-lint.txt requirements-dev.txt
	test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install -q -U pip 2>&1 | grep -v "is ignored" || true
	$(LINT_VENV)/bin/python -m pip install -q -r requirements-lint.txt 2>&1 | grep -v "is ignored" || true
	$(LINT_VENV)/bin/python -c "import azdev, azure.cli.core, pylint, flake8"
	touch $@

lint-venv: $(LINT_VENV)/.installed

# azdev linter + azdev style on the extension, the same pylint/flake8 rules on sandbox/ tests/ bench/
# (scripts/lint.sh says how azdev runs offline, all of it under .lint/). Exit code non-zero on any finding.
lint: lint-venv
	bash scripts/lint.sh

# linter_exclusions.yml is generated from the target table (make lint fails when it is stale).
linter-exclusions: venv
	$(BIN)/python scripts/linter_exclusions.py

.tools/node_modules/.bin/azurite:
	mkdir -p .tools
	cd .tools && npm install --no-audit --no-fund --silent azurite@$(AZURITE_VERSION)
	test -x $@

tools: .tools/node_modules/.bin/azurite

# Each build gets a local version label (1.0.0b1+local.<UTC time>), so that `az extension add --upgrade --source`
# replaces an installed build (az compares versions, not contents). `make wheel LOCAL_VERSION=`: the release version.
LOCAL_VERSION ?= +local.$(shell date -u +%Y%m%d%H%M%S)
wheel: venv
	rm -rf dist
	AKS_CONNECTION_LOCAL_VERSION="$(LOCAL_VERSION)" $(BIN)/python scripts/wheel.py dist 2>&1 \
	    | grep -v "is ignored" || true
	ls dist/aks_connection-*.whl

demo: venv tools wheel
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# The whole suite on parallel workers (pytest-xdist; each worker runs its own sandbox): the tests of a file stay
# together on one worker, except the parts a file declares independent (tests/conftest.py).
TEST_WORKERS ?= 4
TEST_XDIST = -n $(TEST_WORKERS) --dist loadgroup
# It includes the pacing lane (marker `pacing`, tests/e2e/test_pacing_lane.py: a create through a 20-second cluster
# update without Retry-After, as AKS answers); `make test-pacing` runs that lane alone.
test: venv tools
	$(BIN)/python -m pytest tests $(TEST_XDIST)

test-pacing: venv tools
	$(BIN)/python -m pytest tests -m pacing

# The oldest azure-cli the extension declares (azext_metadata.json azext.minCliCoreVersion), in a virtualenv of its
# own (requirements-mincli.txt pins it; the smoke's first test fails when the two differ): the end-to-end smoke
# (create / show / validate / delete of each auth type) and the tests of every azure-cli / azure-core / requests
# internal the extension uses (_compat.py) run on it. The sandbox runs from .venv (it needs azure-storage-blob,
# which that azure-cli does not ship). ~3 min on 2 cores, the virtualenv's install included.
MINCLI_VENV := .venv-mincli
MINCLI_VERSION = $(shell $(PYTHON) -c "import json; print(json.load(open('azext_aks_connection/azext_metadata.json'))['azext.minCliCoreVersion'])")
MINCLI_TESTS := tests/unit/test_compat.py tests/unit/test_arm_tls.py tests/unit/test_loader.py \
                tests/e2e/test_smoke_auth_types.py
$(MINCLI_VENV)/.installed: requirements-mincli.txt
	test -x $(MINCLI_VENV)/bin/python || $(PYTHON) -m venv $(MINCLI_VENV)
	$(MINCLI_VENV)/bin/python -m pip install -q -U pip 2>&1 | grep -v "is ignored" || true
	$(MINCLI_VENV)/bin/python -m pip install -q -r requirements-mincli.txt 2>&1 | grep -v "is ignored" || true
	$(MINCLI_VENV)/bin/python -c "import azure.cli.core, kubernetes, trustme"
	test -x $(MINCLI_VENV)/bin/kubectl
	touch $@

mincli-venv: $(MINCLI_VENV)/.installed

test-mincli: venv tools mincli-venv
	AKS_CONNECTION_SANDBOX_PYTHON="$(CURDIR)/$(BIN)/python" AKS_CONNECTION_EXPECT_CLI="$(MINCLI_VERSION)" \
	    $(MINCLI_VENV)/bin/python -m pytest $(MINCLI_TESTS)

# The edit-test loop: unit + sandbox emulator tests + one smoke end-to-end file.
test-fast: venv tools
	$(BIN)/python -m pytest tests/unit tests/sandbox tests/e2e/test_storage_blob_secret.py $(TEST_XDIST)

# Wall time against the lower bound, per scenario, with the goals of issue 16 (bench/README.md; ~7 min on 2
# cores), then the goals of issue 27 (apply of many connections, ~3 min). `make bench-quick`: one run per figure,
# LRO 1 s only (~2 min): for a look, not for the goal figures. `make bench-apply`: the apply scenarios alone.
bench: venv tools
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/apply_bench.py

bench-apply: venv tools
	$(BIN)/python bench/apply_bench.py

bench-quick: venv tools
	BENCH_RUNS=1 BENCH_LROS=1 $(BIN)/python bench/bench.py

# This tree's extension against the one of a git revision, interleaved in one sandbox: `make bench-ab REV=b76da37`.
bench-ab: venv tools
	$(BIN)/python bench/ab.py $(REV)

calls: venv tools
	$(BIN)/python bench/calls_per_cluster_kind.py

down:
	$(BIN)/python -m sandbox down

clean:
	-$(BIN)/python -m sandbox down
	rm -rf .sandbox dist build *.egg-info .pytest_cache .lint
