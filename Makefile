# One command for each job; see README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install system-deps python-deps demo test unit fuzz selftest lint schema docs bench clean

install: system-deps python-deps  ## system packages (root) + the Python package in .venv

system-deps:
	./scripts/install-system-deps.sh

python-deps: $(BIN)/tai-labs

$(BIN)/tai-labs: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,vm]'
	@touch $@

demo: python-deps  ## the main job: check the catalogue, bring a lab up, show it (root)
	$(BIN)/tai-labs validate
	$(BIN)/tai-labs list --coverage
	$(BIN)/tai-labs up compte-verrouille --candidate demo
	$(BIN)/tai-labs ls
	@echo "remove it with: $(BIN)/tai-labs down --all"

test: python-deps  ## every test tier; tiers that need something absent skip and say why
	$(BIN)/python -m pytest

# Labs proven at once: 2 on the CI machine (2 cores, 24 GiB), from bench/bench_selftest.py
# (README, Performance); SELFTEST_PARALLEL=1 for one at a time.
SELFTEST_PARALLEL ?= 2
selftest: python-deps  ## every non-draft scenario proven on real labs, every variant (root)
	mkdir -p out
	$(BIN)/tai-labs selftest --parallel $(SELFTEST_PARALLEL) --junit out/selftest.xml

unit: python-deps  ## pure unit tests only (no lab, no root)
	$(BIN)/python -m pytest tests/unit

FUZZ_DOCS ?= 1000
fuzz: python-deps  ## mutated scenarios through the loader: fails on a traceback or an overrun
	$(BIN)/python tests/fuzz/fuzz_loader.py --docs $(FUZZ_DOCS) --bound 5 $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

lint: python-deps  ## ruff, formatting, mypy, and the import contracts (docs/architecture.md)
	$(BIN)/ruff check src graders tests bench
	$(BIN)/ruff format --check src graders tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: python-deps  ## figures for the README (root; creates and removes labs)
	$(BIN)/python bench/bench_lab.py
	$(BIN)/python bench/bench_runtime.py --skip-cold
	$(BIN)/python bench/bench_vm.py --skip-cold

schema: python-deps  ## refresh the JSON Schema shipped for editors
	$(BIN)/tai-labs schema -o docs/scenario.schema.json

docs: python-deps  ## refresh the page of every scenario (docs/scenarios/)
	$(BIN)/tai-labs docs --output docs/scenarios

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build dist
