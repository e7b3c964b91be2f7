# Two commands do everything on a fresh machine: `make run` and `make test`.
# Each creates the virtual environment and installs inv into it when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "Installing inv and its dependencies into $(VENV) (about 7 GB, a few minutes; torch and its CUDA libraries are most of it)..."
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# With TELEGRAM_BOT_TOKEN in .env: explain the demo photos into DATA_DIR and serve real users.
# Without: the offline demo (out/report.html and out/export.zip).
run: $(STAMP)
	@$(BIN)/inv run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
