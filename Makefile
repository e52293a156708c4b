# Every target bootstraps .venv first, so a fresh clone needs nothing but python3, openssl and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHECKED := service adapters tests bench

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The daemon arrives with a later release; until then `make run` runs a Life demo: the Gosper
# glider gun for 240 generations, drawn as var/gosper.gif, with the run's summary.
run: $(STAMP)
	@mkdir -p var
	$(BIN)/fanout --config config.toml life service/life/patterns/gosper-glider-gun.rle \
		-g 240 --every 4 -o var/gosper.gif
	@echo "wrote var/gosper.gif; 'fanout --help' lists the commands"

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)

typecheck: $(STAMP)
	$(BIN)/mypy service adapters tests

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.life
	$(BIN)/python -m bench.life_strategies
	$(BIN)/python -m bench.crypto

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
