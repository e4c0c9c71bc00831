#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint (ruff, configured in pyproject.toml) and run the whole test suite on two processes.
# The quick loop while editing: .venv/bin/python -m pytest -m "not slow" -q
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/python -m pytest -n 2 -q
