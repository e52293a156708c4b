# Every target bootstraps .venv first, so a fresh clone needs nothing but python3, openssl and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHECKED := service adapters tests bench

.PHONY: run test lint typecheck pytest bench clean peers

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The daemon on config.toml's defaults: http://127.0.0.1:8080, its job store under ./var.
# Stop it with Ctrl-C (or SIGTERM): it drains running jobs for [jobs] shutdown_grace_s.
run: $(STAMP)
	@mkdir -p var
	$(BIN)/fanout --config config.toml serve

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)

typecheck: $(STAMP)
	$(BIN)/mypy service adapters tests

pytest: $(STAMP) peers
	$(BIN)/python -m pytest -q

# The real programs the tests compare with, from Debian's packages when missing: golly's
# bgolly (Life on bounded grids, placed as Golly places patterns).
peers:
	@command -v bgolly >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q golly; }

bench: $(STAMP)
	$(BIN)/python -m bench.life
	$(BIN)/python -m bench.life_strategies
	$(BIN)/python -m bench.life_files
	$(BIN)/python -m bench.crypto
	$(BIN)/python -m bench.command
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
