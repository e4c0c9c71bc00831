#!/usr/bin/env bash
# The main job on the shipped examples, from a fresh checkout:
#   set up .venv, check the standard library and examples, run the examples'
#   tests (caic test), compile every
#   deployment of the examples into bundles, build a tiny random model
#   locally, and run both phases of Constitutional AI (SL-CAI then RLAIF
#   with DPO) on examples/medical.const, ending with report.html.
# The tiny model's text is noise: this proves the pipeline, not alignment.
# Usage: bash scripts/quickstart.sh [OUT_DIR]   (default out/quickstart)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
OUT="${1:-out/quickstart}"
CAIC=.venv/bin/caic
mkdir -p "$OUT"

echo "== 1/4 caic check and caic test: standard library and examples"
"$CAIC" check stdlib_constitutions/*.const examples/*.const
"$CAIC" test examples/*.const

echo "== 2/4 caic compile --all: one bundle per deployment"
for example in medical creative_writing customer_service; do
    "$CAIC" compile "examples/$example.const" --all -o "$OUT/bundles/$example"
done

echo "== 3/4 caic tiny-model: a random model built locally (no download)"
[ -f "$OUT/tiny-model/config.json" ] || "$CAIC" tiny-model "$OUT/tiny-model" --size tiny

echo "== 4/4 caic train --phase all: SL-CAI, then preference model and DPO"
RESUME=()
[ -f "$OUT/train/run.json" ] && RESUME=(--resume)
# --tie-margin 0: a random model's labels sit next to 0.5, so DPO's usual
# margin would leave it no pairs to learn from (see docs/training.md).
# --logging-steps 1: a four-step run logs every step, so the report draws curves.
# --preference-model always: DPO itself does not read the preference model,
# but the quick start shows every artefact of RLAIF.
"$CAIC" train examples/medical.const --model "$OUT/tiny-model" --phase all --method dpo \
    --max-prompts 16 --rounds 2 --max-new-tokens 32 --max-steps 4 --tie-margin 0 --logging-steps 1 \
    --preference-model always \
    -o "$OUT/train" "${RESUME[@]}"

echo
echo "done: bundles in $OUT/bundles, models and data in $OUT/train, report at $OUT/train/report.html"
