# Two entry points: `make run` and `make test`. Everything installs into ./.venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ORT_DISABLE_TELEMETRY := 1

.PHONY: run test install lint typecheck load reindex eval clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	# torch first, pinned, so nothing pulls a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m scripts.load_knowledge
	$(BIN)/python -m scripts.create_admin_key --if-none
	@echo "API docs: http://127.0.0.1:8000/docs"
	$(BIN)/uvicorn app.main:app --host 127.0.0.1 --port 8000

test: install
	$(BIN)/ruff check app embeddings scripts tests
	$(BIN)/mypy app embeddings scripts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

load: install
	$(BIN)/python -m scripts.load_knowledge

reindex: install
	$(BIN)/python -m scripts.reindex

eval: install
	$(BIN)/python -m scripts.evaluate

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
