#!/usr/bin/env bash
# Applies ruff's safe lint fixes and its formatter to the whole tree, then shows what is left for a
# hand. Rewrites most Python files the first time: run it when nobody has uncommitted work.
set -euo pipefail
cd "$(dirname "$0")/.."
RUFF=.venv/bin/ruff
# Silent: what it cannot fix before formatting is mostly long lines the formatter then wraps.
"$RUFF" check --fix --exit-zero --silent .
"$RUFF" format .
# Fixes can leave code the formatter then rewraps, and formatting can move a noqa: check once more.
"$RUFF" check .
