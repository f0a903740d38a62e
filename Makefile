# Two entry points: `make run` and `make test`. Everything installs into ./.venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ORT_DISABLE_TELEMETRY := 1

CHROMIUM ?= /usr/bin/chromium

.PHONY: run test install browser haproxy cluster axe lint typecheck load reindex eval screenshots clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	# torch first, pinned, so nothing pulls a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# the service's own bytecode, compiled once here: where PYTHONDONTWRITEBYTECODE is set,
# every start would compile all its modules again (the cost: docs/benchmarks.md)
install: $(STAMP)
	@$(BIN)/python -m compileall -q app embeddings scripts

run: install
	$(BIN)/python -m scripts.load_knowledge
	$(BIN)/python -m scripts.create_admin_key --if-none
	$(BIN)/python -m scripts.load_demo --if-empty
	@echo "Web console: http://127.0.0.1:8000/ui   API docs: http://127.0.0.1:8000/docs"
	$(BIN)/uvicorn app.main:app --host 127.0.0.1 --port 8000

# the browser tests use Debian's Chromium; installed here when missing (needs root or sudo)
browser:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } || \
	  echo "could not install chromium: the browser tests will be skipped"; }

# the cluster (and its test) put Debian's haproxy in front of the replicas; installed here
# when missing (needs root or sudo)
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { \
	  echo "installing Debian's haproxy for the cluster"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q haproxy >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q haproxy >/dev/null; } || \
	  echo "could not install haproxy: make cluster cannot start and the cluster tests will be skipped"; }

# three replicas on the PostgreSQL database DATABASE_URL names, haproxy in front on
# 127.0.0.1:8000 (python -m scripts.cluster --help for the options)
cluster: install haproxy
	$(BIN)/python -m scripts.cluster $(CLUSTER_ARGS)

# axe-core for the accessibility tests, from the npm registry, checked against the sha512 the
# registry publishes for this version (dist.integrity), kept out of git in .cache/axe/
AXE_VERSION := 4.10.3
AXE_SHA512 := 5e6edba515e70d25f6604d9815f064d859c5d1ea7ab661bbc4f87c88779ef0c21cae0abbeb636471ef39e9d62d2582e4b88a1866f19f4ecfcf6d986275e4dc12
AXE_DIR := .cache/axe
AXE_STAMP := $(AXE_DIR)/.axe-core-$(AXE_VERSION)

axe: $(AXE_STAMP)

$(AXE_STAMP):
	@mkdir -p $(AXE_DIR)
	curl -fsSL --retry 3 -o $(AXE_DIR)/axe-core.tgz \
	  https://registry.npmjs.org/axe-core/-/axe-core-$(AXE_VERSION).tgz
	@echo "$(AXE_SHA512)  $(AXE_DIR)/axe-core.tgz" | sha512sum -c --quiet - || \
	  { rm -f $(AXE_DIR)/axe-core.tgz; echo "axe-core $(AXE_VERSION): checksum mismatch"; exit 1; }
	tar -xzf $(AXE_DIR)/axe-core.tgz -C $(AXE_DIR) --strip-components=1 package/axe.min.js
	@rm -f $(AXE_DIR)/axe-core.tgz $(AXE_DIR)/.axe-core-*
	@touch $@

# the whole suite: the marker expression overrides pyproject's "not slow" (a later -m in
# PYTEST_ARGS overrides this one, e.g. PYTEST_ARGS='-m "not slow"' for the quick run)
test: install browser haproxy axe
	$(BIN)/ruff check app embeddings scripts tests
	$(BIN)/mypy app embeddings scripts
	$(BIN)/python -m pytest -m "slow or not slow" $(PYTEST_ARGS)

load: install
	$(BIN)/python -m scripts.load_knowledge

reindex: install
	$(BIN)/python -m scripts.reindex

eval: install
	$(BIN)/python -m scripts.evaluate

screenshots: install browser
	$(BIN)/python -m scripts.screenshots

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
