# Every target builds its own virtualenv from the pinned requirements.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The Cloud Tasks emulator needs protobuf<5: a virtualenv of its own, for the tests.
TASKS_VENV  := .venv-tasks
TASKS_STAMP := $(TASKS_VENV)/.installed

.PHONY: test demo lint sandbox clean bench bench-quick

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

test: lint $(TASKS_STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m b2_iconik.demo

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy b2_iconik main.py bench

# The performance bench against the sandbox (about an hour; bench-quick: small sizes). Knobs:
# make bench BENCH_ARGS="--latency 0.05 --max-rps 40" (python -m bench --help lists them).
bench: $(STAMP) $(TASKS_STAMP)
	$(PY) -m bench $(if $(QUICK),--quick) $(BENCH_ARGS)

bench-quick: $(STAMP) $(TASKS_STAMP)
	$(PY) -m bench --quick $(BENCH_ARGS)

sandbox: $(STAMP)
	$(PY) -m b2_iconik.sandbox --port 8900 --seed demo

clean:
	rm -rf $(VENV) $(TASKS_VENV) .pytest_cache
