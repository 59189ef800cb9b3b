# Two entry points: `make demo` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
AZURITE_VERSION := 3.35.0
export AZURE_CORE_COLLECT_TELEMETRY := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test venv tools wheel bench calls clean down

$(BIN)/.installed: requirements-dev.txt setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install -q -r requirements-dev.txt 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import azure.cli.core, kubernetes, trustme, azure.mgmt.kubernetesconfiguration"
	test -x $(BIN)/kubectl
	touch $@

venv: $(BIN)/.installed

.tools/node_modules/.bin/azurite:
	mkdir -p .tools
	cd .tools && npm install --no-audit --no-fund --silent azurite@$(AZURITE_VERSION)
	test -x $@

tools: .tools/node_modules/.bin/azurite

wheel: venv
	rm -rf dist build *.egg-info
	$(BIN)/python -m pip wheel -q --no-deps -w dist . 2>&1 | grep -v "is ignored" || true
	ls dist/aks_connection-*.whl

demo: venv tools wheel
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: venv tools
	$(BIN)/python -m pytest tests

bench: venv tools
	$(BIN)/python bench/bench_create.py

calls: venv tools
	$(BIN)/python bench/calls_per_cluster_kind.py

down:
	$(BIN)/python -m sandbox down

clean:
	-$(BIN)/python -m sandbox down
	rm -rf .sandbox dist build *.egg-info .pytest_cache
