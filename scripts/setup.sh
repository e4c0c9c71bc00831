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
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[train,lsp,review,dev]'
# The report tests render pages in a real browser: Debian's chromium, from
# apt, only when it is missing (never a browser a tool downloads itself);
# the review page's test drives it through Debian's chromedriver.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "note: chromium or chromedriver is not installed; the browser tests will skip (sudo apt-get install chromium chromium-driver)"
    fi
fi
echo "caic installed in .venv: $(.venv/bin/caic --version)"
