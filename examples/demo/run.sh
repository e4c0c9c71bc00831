#!/usr/bin/env bash
# The caic CPU demo: training removes a violation.
#
#   bash examples/demo/run.sh OUT_DIR
#
# 1. writes a synthetic bank-support corpus in which about half of the
#    replies leak a made-up account number, and pre-trains the 10m tiny
#    model on it from scratch;
# 2. evaluates it against examples/demo/pii.const (caic eval);
# 3. trains it with caic train --phase rl --method dpo, and evaluates again;
# 4. as a second run, trains it with --method rloo and evaluates again;
# 5. prints one JSON line: violation_rate_before/after, benign_loss_before/after, ...
#
# Everything is offline and on the CPU. The DEMO_* variables below shrink the
# run (the tests use them); the defaults are the full demo.
set -euo pipefail

OUT=${1:?usage: bash examples/demo/run.sh OUT_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SIZE=${DEMO_SIZE:-10m}                        # 10m (the demo) or tiny (tests)
DIALOGUES=${DEMO_DIALOGUES:-6000}             # synthetic training dialogues
PRETRAIN_STEPS=${DEMO_PRETRAIN_STEPS:-200}    # pre-training steps, batch 16
PRETRAIN_LR=${DEMO_PRETRAIN_LR:-2e-3}
RL_PROMPTS=${DEMO_RL_PROMPTS:-512}            # DPO: prompts sampled into labelled pairs (README: why 512)
RLOO_PROMPTS=${DEMO_RLOO_PROMPTS:-128}        # RLOO: its prompt pool (pairs for the preference model)
DPO_STEPS=${DEMO_DPO_STEPS:-60}
DPO_LR=${DEMO_DPO_LR:-1e-4}
DPO_BETA=${DEMO_DPO_BETA:-0.5}
RLOO_STEPS=${DEMO_RLOO_STEPS:-60}             # 0 skips the RLOO run
RLOO_LR=${DEMO_RLOO_LR:-2e-4}
RLOO_BETA=${DEMO_RLOO_BETA:-0.05}
PM_STEPS=${DEMO_PM_STEPS:-20}                 # the RL phase always trains a preference model
EVAL_SAMPLES=${DEMO_EVAL_SAMPLES:-2}          # responses per held-out prompt
EVAL_PROMPTS=${DEMO_EVAL_PROMPTS:-}           # cap on held-out prompts (empty: all 120)
CRITIQUES=${DEMO_CRITIQUES:---critiques}      # --no-critiques skips the critique-based rates
SEED=${DEMO_SEED:-0}

mkdir -p "$OUT"
: > "$OUT/timings.tsv"
cd "$REPO"
# shellcheck source=../common/steps.sh
source "$REPO/examples/common/steps.sh"   # PYTHON, CAIC, step, policy_of

DATA="$OUT/data"
BASE="$OUT/base_model"
EVAL=(--prompts "$DATA/prompts.jsonl" --benign "$DATA/benign.jsonl" --samples "$EVAL_SAMPLES" --seed "$SEED" "$CRITIQUES")
if [ -n "$EVAL_PROMPTS" ]; then EVAL+=(--max-prompts "$EVAL_PROMPTS"); fi
TRAIN=(--prompts "$DATA/prompts.jsonl" --helpful none --max-new-tokens 64 --max-length 256
       --pm-max-steps "$PM_STEPS" --seed "$SEED" --logging-steps 5)

step pretrain "$PYTHON" "$HERE/pretrain.py" "$OUT" --size "$SIZE" --steps "$PRETRAIN_STEPS" --dialogues "$DIALOGUES" \
    --learning-rate "$PRETRAIN_LR" --seed "$SEED" --threads "$CAIC_THREADS"
step eval_before "${CAIC[@]}" eval "$HERE/pii.const" --model "$BASE" "${EVAL[@]}" -o "$OUT/eval_before"

step train_dpo "${CAIC[@]}" train "$HERE/pii.const" --model "$BASE" --phase rl --method dpo "${TRAIN[@]}" \
    --max-prompts "$RL_PROMPTS" --rl-max-steps "$DPO_STEPS" --rl-learning-rate "$DPO_LR" --beta "$DPO_BETA" -o "$OUT/dpo"
step eval_dpo "${CAIC[@]}" eval "$HERE/pii.const" --model "$(policy_of "$OUT/dpo")" --baseline "$BASE" "${EVAL[@]}" -o "$OUT/eval_dpo"

if [ "$RLOO_STEPS" -gt 0 ]; then
    step train_rloo "${CAIC[@]}" train "$HERE/pii.const" --model "$BASE" --phase rl --method rloo --reward labeller "${TRAIN[@]}" \
        --max-prompts "$RLOO_PROMPTS" --rl-max-steps "$RLOO_STEPS" --rl-learning-rate "$RLOO_LR" --beta "$RLOO_BETA" --max-completion-length 48 -o "$OUT/rloo"
    step eval_rloo "${CAIC[@]}" eval "$HERE/pii.const" --model "$(policy_of "$OUT/rloo")" --baseline "$BASE" "${EVAL[@]}" -o "$OUT/eval_rloo"
fi

echo "reports: $OUT/*/report.html" >&2
"$PYTHON" "$HERE/summary.py" "$OUT"
