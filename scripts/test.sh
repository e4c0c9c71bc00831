#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint (ruff, configured in pyproject.toml) and run the whole test suite on two processes.
# The quick loop while editing: .venv/bin/python -m pytest -m "not slow" -q
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/ruff check .
# The VS Code extension: bundled, its tests run, its .vsix packaged (not kept).
if command -v npm >/dev/null 2>&1; then
    vsix_dir="$(mktemp -d)"
    bash scripts/build_vsix.sh "$vsix_dir"
    rm -rf "$vsix_dir"
elif [ "${CAIC_REQUIRE_NODE:-}" = 1 ]; then
    echo "error: npm is missing, so the VS Code extension cannot be built and tested" >&2
    exit 1
else
    echo "note: npm is missing; the VS Code extension is not built or tested"
fi
.venv/bin/python -m pytest -n 2 -q
