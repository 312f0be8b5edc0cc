# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: install install-dev run test test-long test-container lint demo bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime environment from the hashed lock; the package itself without deps.
$(STAMP): requirements.lock requirements-build.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-build.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(DEVSTAMP): requirements-dev.lock $(STAMP)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	touch $@

install: $(STAMP)

install-dev: $(DEVSTAMP)

run: install
	$(BIN)/watcher db upgrade
	$(BIN)/watcher run

demo: install
	$(BIN)/watcher demo

test: install-dev
	$(BIN)/python -m pytest -q -m "not slow and not container"

test-long: install-dev
	$(BIN)/python -m pytest -q -m "slow and not container"

# Builds the Dockerfile and runs the image and compose.yaml with podman; installs
# podman and builds stand-in base images when needed (tests/container/prepare.sh).
test-container: install-dev
	bash tests/container/run.sh $(BIN)/python

lint: install-dev
	$(BIN)/ruff check watcher tests bench container
	$(BIN)/ruff format --check watcher tests bench container
	$(BIN)/mypy

bench: install-dev
	$(BIN)/python -m bench

# Maintainers only: regenerate both locks (needs uv); hashes, no index addresses.
lock:
	uv pip compile requirements-build.in --generate-hashes --no-emit-index-url --no-header --python-version 3.11 -o requirements-build.lock
	uv pip compile pyproject.toml --generate-hashes --no-emit-index-url --no-header --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml --extra dev --generate-hashes --no-emit-index-url --no-header --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
