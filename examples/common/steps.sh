# Shell helpers the CPU demos share (sourced by examples/*/run.sh; needs REPO and OUT set).
#
# PYTHON: the repository's .venv when there is one, else python3 (set PYTHON to choose).
# step NAME COMMAND...: runs the command, appends its output to OUT/NAME.log and its wall time
#     (seconds) to OUT/timings.tsv; on failure prints the log's tail and exits.
# step_or TEXT NAME COMMAND...: the same, except that a failure whose log holds TEXT carries on.
# policy_of RUN_DIR: the policy folder a `caic train` run recorded in its run.json.

if [ -z "${PYTHON:-}" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
CAIC=("$PYTHON" -m cai_lang)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Same seed, same numbers: Python's hash order fixed, torch's deterministic algorithms and a fixed
# thread count in every caic command (cai_lang/engine/determinism.py). DEMO_THREADS overrides the 2.
export PYTHONHASHSEED=0 CAIC_DETERMINISTIC=1 CAIC_THREADS=${DEMO_THREADS:-2}

step() {
    step_or "" "$@"
}

step_or() {  # step_or TEXT NAME COMMAND...: as step, but a failure whose log holds TEXT is an outcome, not an error
    local expected=$1 name=$2; shift 2
    local started=$SECONDS
    echo "== $name: $*" >&2
    if ! "$@" >> "$OUT/$name.log" 2>&1; then
        if [ -n "$expected" ] && grep -q "$expected" "$OUT/$name.log"; then
            echo "   $name: $expected" >&2
        else
            echo "demo step $name failed; see $OUT/$name.log" >&2; tail -20 "$OUT/$name.log" >&2; exit 1
        fi
    fi
    local took=$((SECONDS - started))
    printf '%s\t%s\n' "$name" "$took" >> "$OUT/timings.tsv"
    echo "   $name took ${took} s" >&2
}

policy_of() {
    "$PYTHON" -c 'import json, sys, pathlib; run = pathlib.Path(sys.argv[1]); print(run / json.loads((run / "run.json").read_text())["outputs"]["rl_policy"]["path"])' "$1"
}
