# Every target builds its own virtualenv from the pinned requirements.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The Cloud Tasks emulator needs protobuf<5: a virtualenv of its own, for the tests.
TASKS_VENV  := .venv-tasks
TASKS_STAMP := $(TASKS_VENV)/.installed

.PHONY: test demo lint sandbox deploy undeploy clean bench bench-quick

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(TASKS_STAMP): requirements-emulator.txt
	$(PYTHON) -m venv $(TASKS_VENV)
	$(TASKS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TASKS_VENV)/bin/python -m pip install --quiet -r requirements-emulator.txt
	touch $(TASKS_STAMP)

# Two workers, a test file each at a time (files share their servers and fixtures).
test: lint $(TASKS_STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

demo: $(STAMP)
	$(PY) -m iconik_sandbox.demo

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy b2_iconik iconik_sandbox main.py deploy bench

# The performance bench against the sandbox (about an hour; bench-quick: small sizes). Knobs:
# make bench BENCH_ARGS="--latency 0.05 --max-rps 40" (python -m bench --help lists them).
bench: $(STAMP) $(TASKS_STAMP)
	$(PY) -m bench $(if $(QUICK),--quick) $(BENCH_ARGS)

bench-quick: $(STAMP) $(TASKS_STAMP)
	$(PY) -m bench --quick $(BENCH_ARGS)

sandbox: $(STAMP)
	$(PY) -m iconik_sandbox --port 8900 --seed demo

# Google Cloud in one command; flags go in ARGS, e.g. make deploy ARGS="--dry-run".
deploy: $(STAMP)
	$(PY) -m deploy deploy $(ARGS)

undeploy: $(STAMP)
	$(PY) -m deploy undeploy $(ARGS)

clean:
	rm -rf $(VENV) $(TASKS_VENV) .pytest_cache
