# The two commands: `make run` (the whole service on http://127.0.0.1:$PORT)
# and `make test` (the whole suite). Both create .venv on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench fuzz clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	exec $(PY) deploy/stack.py --setup

# The whole suite on the local storage folder, then the end-to-end storage tests again with
# the run's storage in a bucket of a real S3 server (SeaweedFS, started by the tests).
test: $(VENV)/.installed lint
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest
	TEST_OBJECT_STORE=1 $(PY) -m pytest -m "storage and not stack" -p no:cacheprovider

lint: $(VENV)/.installed
	$(PY) -m ruff check .

# Benchmarks print JSON; they are measurements, not tests.
bench: $(VENV)/.installed
	$(PY) bench/engine_fidelity.py

# Schemathesis against the live stack's OpenAPI schema: no 5xx, no schema violations.
fuzz: $(VENV)/.installed
	$(PY) tools/fuzz.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
