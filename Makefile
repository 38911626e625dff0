# The dev loop: `make unit` while editing (under a minute, no model), `make lint typecheck` before a
# commit, `make test` for everything (what .ci/run runs). Tiers: tests/tiers.py.
PY := .venv/bin/python
PYTEST := $(PY) -m pytest -q -p no:cacheprovider

.PHONY: lint format typecheck unit integration slow test hooks

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Rewrites files: the whole tree, lint fixes then formatting.
format:
	bash scripts/lint-fix.sh

typecheck:
	$(PY) -m mypy

unit:
	$(PYTEST) -m unit

integration:
	$(PYTEST) -m integration

slow:
	$(PYTEST) -m slow

test:
	$(PYTEST)

# ruff, ruff format and mypy before each commit, from the venv (.pre-commit-config.yaml).
hooks:
	$(PY) -m pre_commit install
