# Two commands on a fresh clone: `make run` (serve the example bot) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
ACTIONS_PORT ?= 5055
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-test prepare run test lint fuzz check validate bench clean

# Serving needs the package and the example's action server; the tests add their tools.
# torch is the local CPU wheel (any other torch spec pulls gigabytes of CUDA); it only exports
# the encoder to ONNX at `botsvc train`, serving never imports it.
$(BIN)/botsvc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[actions]'
	touch $@

$(VENV)/.test-deps: $(BIN)/botsvc
	$(BIN)/pip install --quiet -e '.[actions,test]'
	touch $@

install: $(BIN)/botsvc
install-test: $(VENV)/.test-deps

# Train the intent model and build kb_index/ when missing or stale (both are incremental).
prepare: install
	$(BIN)/botsvc validate
	$(BIN)/botsvc train
	$(BIN)/botsvc kb build

# The example bot on the embedded defaults (SQLite under var/), with its rasa-sdk action server.
run: prepare
	@mkdir -p var; $(BIN)/python -m rasa_sdk --actions actions -p $(ACTIONS_PORT) >var/actions.log 2>&1 & \
	  echo $$! >.actions.pid; \
	  trap 'kill $$(cat .actions.pid) 2>/dev/null; rm -f .actions.pid' EXIT INT TERM; \
	  BOTSVC_ACTION_ENDPOINT=http://127.0.0.1:$(ACTIONS_PORT)/webhook \
	  $(BIN)/botsvc serve --host $(HOST) --port $(PORT)

# The whole suite, with its line and branch coverage of src/botsvc printed at the end.
test: install-test prepare
	$(BIN)/python -m pytest -q --cov=botsvc --cov-report=term:skip-covered

# The lint gate: ruff's rules and formatting, and mypy strict over src/.
lint: install-test
	$(BIN)/ruff check src tests bench actions
	$(BIN)/ruff format --check src tests bench actions
	$(BIN)/mypy src

# Schemathesis over the served OpenAPI document: no 5xx, every status and body as documented.
fuzz: install-test prepare
	bash .ci/fuzz

# Everything CI checks: the lint gate, `make test`, then the fuzzing of the API.
check: lint test fuzz

validate: install
	$(BIN)/botsvc validate

bench: prepare
	$(BIN)/python bench/run_all.py

clean:
	rm -rf var models kb_index .pytest_cache
