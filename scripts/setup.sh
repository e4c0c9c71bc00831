#!/usr/bin/env bash
# Create .venv and install caic with every extra (train, lsp, serve, review, dev).
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
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[train,lsp,serve,review,dev]'
# The engines whose reward clients the tests call (tests/train/test_judge_engines.py), without their
# dependencies: both pin GPU stacks (vLLM, Ray, DeepSpeed, a transformers version) a CPU machine cannot
# or must not install; the modules the tests use need only what the dev extra brings.
.venv/bin/python -m pip install --quiet --no-deps openrlhf==0.11.2 verl==0.9.1
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
# The VS Code extension is bundled, tested and packaged with Node.js and npm
# (scripts/build_vsix.sh): Debian's, from apt, only when they are missing.
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "note: npm is not installed; the VS Code extension is not built (sudo apt-get install nodejs npm)"
    fi
fi
echo "caic installed in .venv: $(.venv/bin/caic --version)"
