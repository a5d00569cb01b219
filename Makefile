# Every target builds its own virtualenv from the pinned requirements.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo lint sandbox clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

test: lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m b2_iconik.demo

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy b2_iconik main.py

sandbox: $(STAMP)
	$(PY) -m b2_iconik.sandbox --port 8900 --seed demo

clean:
	rm -rf $(VENV) .pytest_cache
