#!/usr/bin/env bash
# The GPU check (docs/training.md, "The GPU check"). Three ways to call it:
#
#   scripts/gpu_check.sh --fetch [PYTHON_VERSION]   here, with network: wheels into wheels/ (git-ignored),
#                                                   caic's own wheel and the compiled bundle beside them
#   scripts/gpu_check.sh [gpu_check.py options]     on the GPU machine, offline: install wheels/, run the check
#   scripts/gpu_check.sh --dry-run [options]        anywhere: print the plan (model, arguments, wheels) as JSON
#
# The check itself is scripts/gpu_check.py; it writes gpu_check_out/gpu_check.json and prints a summary.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
wheels="${CAIC_WHEELS:-$root/wheels}"
python="${PYTHON:-python}"

if [[ "${1:-}" == "--fetch" ]]; then
    version="${2:-$("$python" -c 'import sys; print(f"{sys.version_info.major}.{sys.version_info.minor}")')}"
    mkdir -p "$wheels"
    "$python" -m pip download --no-deps --only-binary=:all: --python-version "$version" \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        -r "$here/gpu_check_wheels.txt" -d "$wheels"
    "$python" -m pip wheel --no-deps "$root" -w "$wheels"
    "$python" "$here/gpu_check.py" --compile-bundle "$wheels/bundle"
    du -sh "$wheels"
    exit 0
fi

if [[ " $* " == *" --dry-run "* ]]; then
    exec "$python" "$here/gpu_check.py" --wheels "$wheels" "$@"
fi

if ! "$python" -c 'import trl, datasets, cai_lang' 2>/dev/null; then
    if ! compgen -G "$wheels/*.whl" >/dev/null; then
        echo "error: trl, datasets or caic is missing and there are no wheels in $wheels; run scripts/gpu_check.sh --fetch where there is network" >&2
        exit 2
    fi
    # --no-deps: the machine's torch, transformers, accelerate and peft stay as they are.
    "$python" -m pip install --no-index --no-deps "$wheels"/*.whl
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$python" "$here/gpu_check.py" --wheels "$wheels" --bundle "$wheels/bundle" "$@"
