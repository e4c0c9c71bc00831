#!/usr/bin/env bash
# Create .venv and install caic with every extra (train, lsp, dev).
# torch is installed first and pinned (constraints.txt): an unpinned torch
# would pull a several-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[train,lsp,dev]'
echo "caic installed in .venv: $(.venv/bin/caic --version)"
