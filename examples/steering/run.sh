#!/usr/bin/env bash
# The caic steering demo: principles, not regexes, steer a model.
#
#   bash examples/steering/run.sh OUT_DIR
#
# 1. writes the synthetic Hearthside corpus (replies that admit doubt or not,
#    send the customer to a professional or not, and comparison examples
#    about those two traits) and pre-trains a tiny model on it from scratch:
#    one base model, also the feedback model (one already in OUT_DIR is kept);
#    then measures it as a judge (judge_check.py: accuracy on the constitution's
#    own questions over held-out pairs) and prints that JSON line first;
# 2. for each seed, evaluates the base model (caic eval);
# 3. for each deployment of steering.const (humble, hands_on, control) and
#    each seed: caic train --phase rl --method dpo --mode sample from the same
#    base, then caic eval of the result;
# 4. prints one JSON line per deployment: each trait's rate before and after
#    (counted by surface form, not by a model), mean and spread over seeds.
#
# Everything is offline and on the CPU. The STEER_* variables shrink the run
# (the tests use them); the defaults are the full demo.
set -euo pipefail

OUT=${1:?usage: bash examples/steering/run.sh OUT_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SIZE=${STEER_SIZE:-tiny}                       # tiny (0.25 M parameters) or 10m (README: why tiny)
DIALOGUES=${STEER_DIALOGUES:-2000}             # synthetic dialogues
COMPARISONS=${STEER_COMPARISONS:-6000}         # synthetic comparison examples
PRETRAIN_STEPS=${STEER_PRETRAIN_STEPS:-3000}   # pre-training steps, batch 16 (README: why this many)
EASY_STEPS=${STEER_EASY_STEPS:-1000}           # the curriculum's first steps: dialogues and "more of a trait" questions only
PRETRAIN_LR=${STEER_PRETRAIN_LR:-5e-3}
PRETRAIN_THREADS=${STEER_PRETRAIN_THREADS:-1}  # the 0.26 M model gains nothing from 2 threads; on shared cores it lost 5x
NEUTRAL_SHARE=${STEER_NEUTRAL_SHARE:-0.3333}    # share of comparison examples about neither trait (answered by a coin)
COMPARISON_LOSS=${STEER_COMPARISON_LOSS:-answer}  # answer: comparison rows trained on their answer only; all: every token
JUDGE_PAIRS=${STEER_JUDGE_PAIRS:-64}           # held-out pairs per principle for the feedback model's gate
RL_PROMPTS=${STEER_RL_PROMPTS:-192}            # prompts sampled into labelled pairs
DPO_EPOCHS=${STEER_DPO_EPOCHS:-4}             # passes over the decisive pairs (steps follow their number: README)
DPO_LR=${STEER_DPO_LR:-5e-4}
DPO_BETA=${STEER_DPO_BETA:-0.5}
DPO_LOSS=${STEER_DPO_LOSS:-"[sigmoid, sft]"}   # trl's DPO loss_type: sft adds the chosen reply's own loss (README: the benign loss)
EVAL_SAMPLES=${STEER_EVAL_SAMPLES:-2}          # responses per held-out prompt
EVAL_PROMPTS=${STEER_EVAL_PROMPTS:-}           # cap on held-out prompts (empty: all 120)
SEEDS=${STEER_SEEDS:-"0 1 2"}                  # RL and evaluation seeds; the base model is always seed 0
DEPLOYMENTS=${STEER_DEPLOYMENTS:-"humble hands_on control"}

mkdir -p "$OUT"
: > "$OUT/timings.tsv"
cd "$REPO"
# shellcheck source=../common/steps.sh
source "$REPO/examples/common/steps.sh"   # PYTHON, CAIC, step, policy_of
CONST="$HERE/steering.const"
DATA="$OUT/data"
BASE="$OUT/base_model"

eval_args() {  # eval_args SEED: the evaluation's options
    local args=(--prompts "$DATA/prompts.jsonl" --benign "$DATA/benign.jsonl" --samples "$EVAL_SAMPLES" --seed "$1" --no-critiques)
    if [ -n "$EVAL_PROMPTS" ]; then args+=(--max-prompts "$EVAL_PROMPTS"); fi
    printf '%s\n' "${args[@]}"
}

if [ -f "$BASE/training_log.json" ]; then
    echo "== pretrain: $BASE is there already (delete it to pre-train again)" >&2
else
    step pretrain "$PYTHON" "$HERE/world.py" "$OUT" --size "$SIZE" --steps "$PRETRAIN_STEPS" --dialogues "$DIALOGUES" \
        --comparisons "$COMPARISONS" --learning-rate "$PRETRAIN_LR" --comparison-loss "$COMPARISON_LOSS" --easy-steps "$EASY_STEPS" \
        --neutral-share "$NEUTRAL_SHARE" --seed 0 --threads "$PRETRAIN_THREADS"
fi
# The gate: how often the feedback model answers the constitution's own questions rightly on held-out pairs
# (chance 0.5). Printed before any RL, since a judge at chance can steer nothing.
step judge "$PYTHON" "$HERE/judge_check.py" "$BASE" --data "$DATA" --pairs "$JUDGE_PAIRS" --seed 0
grep "^{\"judge\"" "$OUT/judge.log" > "$OUT/judge.json"
cat "$OUT/judge.json"
for seed in $SEEDS; do
    mapfile -t EVAL < <(eval_args "$seed")
    step "eval_base_s$seed" "${CAIC[@]}" eval "$CONST" --model "$BASE" "${EVAL[@]}" -o "$OUT/eval_base_s$seed"
done
for dep in $DEPLOYMENTS; do
    for seed in $SEEDS; do
        mapfile -t EVAL < <(eval_args "$seed")
        run="$OUT/${dep}_s$seed"
        # A feedback model that cannot tell a pair apart leaves only near-ties, and caic train stops with
        # "nothing for DPO to learn": then the policy is the base model, unchanged, and the summary says so.
        NO_PAIRS="every preference pair is a near-tie"
        step_or "$NO_PAIRS" "train_${dep}_s$seed" "${CAIC[@]}" train "$CONST" --deployment "$dep" --model "$BASE" --phase rl --method dpo --mode sample \
            --prompts "$DATA/prompts.jsonl" --helpful none --max-prompts "$RL_PROMPTS" --max-new-tokens 48 --max-length 256 \
            --max-steps -1 --epochs "$DPO_EPOCHS" --rl-learning-rate "$DPO_LR" --beta "$DPO_BETA" --trl "policy.loss_type=$DPO_LOSS" \
            --seed "$seed" --logging-steps 5 -o "$run"
        if grep -q "$NO_PAIRS" "$OUT/train_${dep}_s$seed.log"; then policy="$BASE"; else policy=$(policy_of "$run"); fi
        step "eval_${dep}_s$seed" "${CAIC[@]}" eval "$CONST" --deployment "$dep" --model "$policy" "${EVAL[@]}" -o "$OUT/eval_${dep}_s$seed"
    done
done
echo "reports: $OUT/*/report.html" >&2
"$PYTHON" "$HERE/summary.py" "$OUT" --seeds $SEEDS --deployments $DEPLOYMENTS
