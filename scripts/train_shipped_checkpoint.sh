#!/usr/bin/env bash
# Train the tiny discrete-diffusion VLA checkpoint shipped in checkpoints/tabletop-tiny-dd
# (evaluated by `make demo` / `vla demo`), from demonstrations the repo's scripted expert collects.
#
#   scripts/train_shipped_checkpoint.sh                 # defaults below
#   STEPS=3000 DEMOS_PER_TASK=10 scripts/train_shipped_checkpoint.sh
#   DATA=runs/reproduce/demos WORK=runs/reproduce/train/diffusion STEPS=3000 BATCH=16 scripts/train_shipped_checkpoint.sh
#       (export the diffusion head `vla reproduce` trained: same commands, so both stages are skipped)
#
# Stages (each skipped when its output exists, so a killed run continues):
#   1. vla collect: DEMOS_PER_TASK successful expert demos per tabletop task -> $DATA
#                   (noise ACTION_NOISE executed, the expert's clean actions recorded)
#   2. vla train:   tiny preset, diffusion head, 32 bins, binary gripper -> $WORK (resumes from its
#                   latest checkpoint); the same command `vla reproduce` uses for its diffusion head
#   3. export:      the inference files only (config, weights, norm stats, tokenizer) -> $OUT,
#                   plus $OUT/README.md recording the exact commands, seeds, commit and log.
set -euo pipefail
cd "$(dirname "$0")/.."

SEED=${SEED:-0}
DEMOS_PER_TASK=${DEMOS_PER_TASK:-20}
ACTION_NOISE=${ACTION_NOISE:-0.1}
STEPS=${STEPS:-3000}
BATCH=${BATCH:-16}
DATA=${DATA:-runs/shipped/demos-clean}
WORK=${WORK:-runs/shipped/train-$STEPS}
OUT=${OUT:-checkpoints/tabletop-tiny-dd}
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export MUJOCO_GL=${MUJOCO_GL:-egl} PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}

COLLECT=(collect --suite tabletop-10 --episodes-per-task "$DEMOS_PER_TASK" --image-size 128
         --action-noise "$ACTION_NOISE" --seed "$SEED" --out "$DATA" --no-progress)
TRAIN=(train --data "$DATA" --out "$WORK" --preset tiny --head diffusion --horizon 8 --image-size 64
       --hidden-size 128 --layers 2 --heads 4 --vision-arch resnet --vision-layers 1 --image-pool 1
       --image-coords 32 --prefix-order text_first --action-slot-embed --n-bins 32 --binary-gripper
       --steps "$STEPS" --batch-size "$BATCH" --lr 0.001 --warmup-steps 100 --seed "$SEED" --save-every 500
       --keep-checkpoints 1 --log-every 50 --no-progress)

echo "[$(date -u +%FT%TZ)] stage 1: collect -> $DATA"
if [ ! -f "$DATA/summary.json" ]; then
    "$PY" -m vla.cli "${COLLECT[@]}"
fi

echo "[$(date -u +%FT%TZ)] stage 2: train -> $WORK"
if [ ! -f "$WORK/model.safetensors" ]; then
    "$PY" -m vla.cli "${TRAIN[@]}" --resume  # continues from a checkpoint if there is one
fi

echo "[$(date -u +%FT%TZ)] stage 3: export -> $OUT"
mkdir -p "$OUT"
for f in config.json model.safetensors norm_stats.json tokenizer.json tokenizer_config.json special_tokens_map.json; do
    [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/$f"
done
cp "$WORK/train_log.csv" "$OUT/train_log.csv" 2>/dev/null || true
cp "$DATA/summary.json" "$OUT/demos_summary.json"
chmod a+r "$OUT"/*

COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (working tree had uncommitted changes)" || true)
LAST=$(tail -n 1 "$WORK/train_log.csv" 2>/dev/null || echo "")
SIZE=$(du -sh "$OUT" | cut -f1)
# EVAL=<an evaluation's summary.json>: its success rate goes into the README (and eval.json)
# NOTE="...": a free-text note for the README (e.g. how WORK was actually trained, if not by stage 2)
MEASURED="not measured by this script: run \`vla demo\`"
if [ -n "${EVAL:-}" ] && [ -f "$EVAL" ]; then
    cp "$EVAL" "$OUT/eval.json"
    MEASURED=$("$PY" - "$EVAL" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
o = s["overall"]
lo, hi = (100 * x for x in o["ci95"])
print(f"average SR {100 * s['average_sr']:.1f}% over {len(s['tasks'])} tasks, {o['successes']}/{o['episodes']} "
      f"episodes (Wilson 95% [{lo:.1f}, {hi:.1f}]), from {sys.argv[1]}")
PYEOF
)
fi
cat > "$OUT/README.md" <<EOF
# tabletop-tiny-dd: the checkpoint shipped for \`make demo\`

A tiny discrete-diffusion VLA (tiny preset, diffusion head, H=8 x D=7 action tokens) trained from
scratch on scripted-expert demonstrations of the ten tabletop-10 tasks. It exists so that the
main job runs end to end on a fresh machine in minutes; its success rate is whatever it is and is
reported as measured by \`make demo\` (raising it is the reproduction issue's job).

Produced by \`scripts/train_shipped_checkpoint.sh\` with SEED=$SEED DEMOS_PER_TASK=$DEMOS_PER_TASK
ACTION_NOISE=$ACTION_NOISE STEPS=$STEPS BATCH=$BATCH, i.e. exactly:

\`\`\`
vla ${COLLECT[*]}
vla ${TRAIN[*]}
\`\`\`

- code commit: $COMMIT$DIRTY
- finished: $(date -u +%FT%TZ) on $(getconf _NPROCESSORS_ONLN) CPU cores, torch $("$PY" -c 'import torch; print(torch.__version__)')
- demonstrations: see demos_summary.json (episode seeds disjoint from the evaluation init states)
- last training log line (step,loss,lr,grad_norm,examples_per_s,elapsed_s): $LAST
- size on disk: $SIZE; files: config.json, model.safetensors, norm_stats.json, tokenizer files, train_log.csv
- measured: $MEASURED

Evaluate: \`vla demo\` or \`vla eval --policy checkpoints/tabletop-tiny-dd --suite tabletop\`.
${NOTE:+
Note: $NOTE}
EOF
echo "[$(date -u +%FT%TZ)] done: $OUT ($SIZE)"
