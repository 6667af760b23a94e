#!/usr/bin/env bash
# Train the tiny discrete-diffusion VLA checkpoint shipped in checkpoints/tabletop-tiny-dd
# (evaluated by `make demo` / `vla demo`), from demonstrations the repo's scripted expert collects.
#
#   scripts/train_shipped_checkpoint.sh                 # defaults below (~30 min collect, ~4 h train, 2 cores)
#   STEPS=3000 DEMOS_PER_TASK=20 scripts/train_shipped_checkpoint.sh
#
# Stages (each skipped when its output exists, so a killed run continues):
#   1. vla collect: DEMOS_PER_TASK successful expert demos per tabletop task -> $DATA/a and $DATA/b
#                   (two processes, five tasks each; noise ACTION_NOISE executed, the expert's clean
#                   actions recorded, plus the instructed object's and goal's positions per step)
#   2. vla train:   tiny preset, diffusion head, 32 bins, binary gripper, grounding head (2 points
#                   and their end-effector-relative copies), HOLDOUT demos per task kept out for the
#                   held-out diagnostics every 1000 steps -> $WORK (resumes from its latest checkpoint);
#                   NPROC processes (torchrun, gloo) with one thread each
#   2b. head:       the decoder grounding head replaced by a spatial one (soft-argmax over
#                   content-only cells) trained on the frozen stage-2 model (--init-from,
#                   --train-only grounding. ground_cells.), constant lr, batch 64: HEAD_STEPS steps on
#                   the demos' first 6 frames only (--early-frames 6 --early-fraction 1) -> $HEAD_WORK/a,
#                   then HEAD_B_STEPS steps with half of each batch from those frames, half from all
#                   -> $HEAD_WORK/b (HEAD_STEPS=0 skips stages 2b and 2c)
#   2c. on-policy:  ROUNDS rounds of: `vla rollouts` of the current policy (ROLLOUTS_PER_TASK episodes
#                   per task, failures kept, with the privileged positions) -> $ROLL/rN, then
#                   HEAD_C_STEPS more head-only steps on the demos plus that round's rollouts
#                   (a quarter of each batch from first frames) -> $HEAD_WORK/cN. The head learns
#                   where objects are in the states the policy itself visits (labels are free in
#                   simulation: the head is trained, the action model stays frozen). Off by default
#                   (ROUNDS=0): one round measured 89/380 against 142/380 without it on the same
#                   evaluation episodes (more "missed" failures: 95 against 31), see
#                   reports/grounding/on_policy_grounding.md.
#   2d. action:     ACT_STEPS steps fine-tuning the action model (transformer, projector, proprio and
#                   point-token embeddings; the vision tower and the grounding head stay frozen) on
#                   the points the frozen head itself predicts (teacher forcing ACT_TEACHER of the
#                   rows with true points + ACT_NOISE m of noise), lr 3e-4 cosine, batch 32, with
#                   ACT_FULL_MASK of each batch all-masked (--full-mask-fraction: the only input
#                   one-pass decoding, DECODER's cosine T=1, sees) -> $HEAD_WORK/d. Stage 2 trained
#                   the action model on true points and the decoder head's; this adapts it to the
#                   spatial head's errors (ACT_STEPS=0 skips it)
#   2e. one pass:   ACT_E_STEPS more steps of the same fine-tune with ACT_E_FULL_MASK of each batch
#                   all-masked, lr 1e-4 cosine, seed 7 -> $HEAD_WORK/e (default ACT_E_STEPS=0: off;
#                   the previous version ran 2000 after a stage 2d without all-masked rows)
#   1b. more layouts: EXTRA_DEMOS_PER_TASK more expert demos per task, seed offset EXTRA_SEED (layouts
#                   disjoint from stage 1's) -> $DATA2/a and $DATA2/b; used by stages 2f and 2g only
#                   (EXTRA_DEMOS_PER_TASK=0 skips 1b, 2f and 2g)
#   2f. head again: HEAD_F_STEPS head-only steps (as stage 2b: first frames half of each batch) on
#                   $DATA plus $DATA2, from the action model stages 2d/2e made, lr 5e-4 cosine, batch 64,
#                   seed 11 -> $HEAD_WORK/f. The oracle says where the policy loses: fed the true
#                   points, the eighth version succeeds 189/200 against 148/200 with its head's
#                   points; the head mislocates the instructed object by 3.3 cm on average at the
#                   first frame, and more layouts are what a frozen-tower head lacks
#   2g. action again: ACT_G_STEPS steps of stage 2d's fine-tune (same flags, all-masked half) on
#                   $DATA plus $DATA2 with the stage 2f head's points -> $HEAD_WORK/g
#   3. export:      the inference files only (config, weights, norm stats, tokenizer) -> $OUT,
#                   $OUT/decoder.json = DECODER (the default decoder options, chosen by a closed-loop
#                   decoder sweep: cosine T=1, each action token read as the mean bin of its
#                   distribution; DECODER= writes none: cosine T=12), plus $OUT/README.md
#                   recording the exact commands, seeds, commit and log.
set -euo pipefail
cd "$(dirname "$0")/.."

SEED=${SEED:-0}
DEMOS_PER_TASK=${DEMOS_PER_TASK:-80}
ACTION_NOISE=${ACTION_NOISE:-0.1}
STEPS=${STEPS:-7500}
BATCH=${BATCH:-32}
HOLDOUT=${HOLDOUT:-5}
NPROC=${NPROC:-2}
DATA=${DATA:-runs/g1/demos}
WORK=${WORK:-runs/g1/dd}
HEAD_STEPS=${HEAD_STEPS:-1500}
HEAD_B_STEPS=${HEAD_B_STEPS:-6000}
ROUNDS=${ROUNDS:-0}
ROLLOUTS_PER_TASK=${ROLLOUTS_PER_TASK:-40}
HEAD_C_STEPS=${HEAD_C_STEPS:-2100}
ROLL=${ROLL:-runs/g4/rollouts}
HEAD_WORK=${HEAD_WORK:-runs/g3/head}
ACT_STEPS=${ACT_STEPS:-4000}
ACT_TEACHER=${ACT_TEACHER:-0.2}
ACT_NOISE=${ACT_NOISE:-0.02}
ACT_FULL_MASK=${ACT_FULL_MASK:-0.5}
ACT_E_STEPS=${ACT_E_STEPS:-0}
ACT_E_FULL_MASK=${ACT_E_FULL_MASK:-0.5}
DECODER=${DECODER-'{"steps": 1, "readout": "mean"}'}
EXTRA_DEMOS_PER_TASK=${EXTRA_DEMOS_PER_TASK:-120}
EXTRA_SEED=${EXTRA_SEED:-1}
DATA2=${DATA2:-runs/g9/demos2}
HEAD_F_STEPS=${HEAD_F_STEPS:-3000}
ACT_G_STEPS=${ACT_G_STEPS:-4000}
OUT=${OUT:-checkpoints/tabletop-tiny-dd}
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export MUJOCO_GL=${MUJOCO_GL:-egl} PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}

TASKS_A=PickCube,PutInBowl,PutOnPlate,PutInBasket,StackCubes
TASKS_B=PushLeft,PushRight,PushFront,ChooseBowl,ChoosePlate
collect_args() {  # $1: tasks, $2: output folder, $3: demos per task (default DEMOS_PER_TASK), $4: seed
    echo collect --suite tabletop-10 --tasks "$1" --episodes-per-task "${3:-$DEMOS_PER_TASK}" --image-size 128 \
        --action-noise "$ACTION_NOISE" --seed "${4:-$SEED}" --out "$2" --no-progress
}
TRAIN=(train --data "$DATA" --out "$WORK" --preset tiny --head diffusion --horizon 8 --image-size 64
       --hidden-size 128 --layers 2 --heads 4 --vision-arch resnet --vision-layers 1 --image-pool 1
       --image-coords 32 --prefix-order text_first --action-slot-embed --n-bins 32 --binary-gripper
       --crop-area 1.0 --ground-points 2 --ground-relative
       --steps "$STEPS" --batch-size "$BATCH" --lr 0.001 --warmup-steps 200 --seed "$SEED" --save-every 500
       --keep-checkpoints 2 --log-every 50 --holdout "$HOLDOUT" --diagnose-every 1000 --diagnose-frames 128
       --no-progress)

echo "[$(date -u +%FT%TZ)] stage 1: collect -> $DATA"
pids=()
for half in a b; do
    tasks=$TASKS_A; [ "$half" = b ] && tasks=$TASKS_B
    if [ ! -f "$DATA/$half/summary.json" ]; then
        # shellcheck disable=SC2046
        "$PY" -m vla.cli $(collect_args "$tasks" "$DATA/$half") &
        pids+=($!)
    fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
if [ "$EXTRA_DEMOS_PER_TASK" -gt 0 ]; then
    echo "[$(date -u +%FT%TZ)] stage 1b: more layouts -> $DATA2"
    pids=()
    for half in a b; do
        tasks=$TASKS_A; [ "$half" = b ] && tasks=$TASKS_B
        if [ ! -f "$DATA2/$half/summary.json" ]; then
            # shellcheck disable=SC2046
            "$PY" -m vla.cli $(collect_args "$tasks" "$DATA2/$half" "$EXTRA_DEMOS_PER_TASK" "$EXTRA_SEED") &
            pids+=($!)
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
fi

echo "[$(date -u +%FT%TZ)] stage 2: train -> $WORK"
if [ ! -f "$WORK/model.safetensors" ]; then
    # continues from a checkpoint if there is one
    OMP_NUM_THREADS=1 "$(dirname "$PY")/torchrun" --standalone --nproc_per_node "$NPROC" -m vla.cli "${TRAIN[@]}" --resume
fi

head_args() {  # $1: init checkpoint, $2: output, $3: --early-fraction, $4: seed, $5: warm-up steps, $6: steps,
              # $7: data folders (default stage 2's)
    local a=("${TRAIN[@]}")
    for i in "${!a[@]}"; do
        case "${a[$i]}" in
            --out) a[i+1]=$2 ;; --steps) a[i+1]=$6 ;; --warmup-steps) a[i+1]=$5 ;; --seed) a[i+1]=$4 ;;
            --data) a[i+1]=${7:-$DATA} ;;
            --batch-size) a[i+1]=64 ;; --diagnose-every) a[i+1]=300 ;; --save-every) a[i+1]=300 ;;
        esac
    done
    echo "${a[@]}" --init-from "$1" --ground-head spatial --train-only grounding. ground_cells. \
        --early-frames 6 --early-fraction "$3" --lr-schedule constant
}
act_args() {  # $1: init checkpoint, $2: output, $3: steps (default ACT_STEPS), $4: lr, $5: seed
    local a=("${TRAIN[@]}")
    for i in "${!a[@]}"; do
        case "${a[$i]}" in
            --out) a[i+1]=$2 ;; --steps) a[i+1]=${3:-$ACT_STEPS} ;; --warmup-steps) a[i+1]=100 ;; --seed) a[i+1]=${5:-5} ;;
            --lr) a[i+1]=${4:-0.0003} ;; --diagnose-every) a[i+1]=500 ;;
        esac
    done
    echo "${a[@]}" --init-from "$1" --ground-head spatial --train-only lm. projector. proprio_proj. action_slot \
        camera_embed grounding.point_embed. grounding.point_id --ground-teacher-forcing "$ACT_TEACHER" \
        --ground-label-noise "$ACT_NOISE"
}
HEAD_A=$(head_args "$WORK" "$HEAD_WORK/a" 1 2 100 "$HEAD_STEPS")
HEAD_B=$(head_args "$HEAD_WORK/a" "$HEAD_WORK/b" 0.5 3 50 "$HEAD_B_STEPS")
rollout_args() {  # $1: policy, $2: tasks, $3: round, $4: output
    echo rollouts --policy "$1" --tasks "$2" --episodes-per-task "$ROLLOUTS_PER_TASK" --seed $((49 + $3)) \
        --out "$4" --no-progress
}
HEAD_C=(); ROLL_CMDS=()
prev=$HEAD_WORK/b; rolls=""
for r in $(seq 1 "$ROUNDS"); do
    ROLL_CMDS+=("$(rollout_args "$prev" "$TASKS_A" "$r" "$ROLL/r$r/a")" "$(rollout_args "$prev" "$TASKS_B" "$r" "$ROLL/r$r/b")")
    rolls=" $ROLL/r$r"  # this round's rollouts only (aggregating rounds would not fit 2 ranks in 24 GiB)
    HEAD_C+=("$(head_args "$prev" "$HEAD_WORK/c$r" 0.25 $((3 + r)) 50 "$HEAD_C_STEPS" "$DATA$rolls")")
    prev=$HEAD_WORK/c$r
done
ACT="$(act_args "$prev" "$HEAD_WORK/d") --full-mask-fraction $ACT_FULL_MASK"
ACT_E="$(act_args "$HEAD_WORK/d" "$HEAD_WORK/e" "$ACT_E_STEPS" 0.0001 7) --full-mask-fraction $ACT_E_FULL_MASK"
PRE_F=$HEAD_WORK/d; [ "$ACT_E_STEPS" -gt 0 ] && PRE_F=$HEAD_WORK/e
with_data2() {  # stage 2b/2d arguments -> the same on $DATA plus $DATA2, without lr, schedule and
              # diagnostics period (the caller appends its own)
    local out=() skip=0 data=0
    for a in "$@"; do
        if [ "$skip" = 1 ]; then skip=0; continue; fi
        case "$a" in --lr|--lr-schedule|--diagnose-every) skip=1; continue ;; esac
        out+=("$a")
        if [ "$data" = 1 ]; then out+=("$DATA2"); data=0; fi
        [ "$a" = --data ] && data=1
    done
    echo "${out[@]}"
}
# shellcheck disable=SC2086
HEAD_F="$(with_data2 $(head_args "$PRE_F" "$HEAD_WORK/f" 0.5 11 50 "$HEAD_F_STEPS")) --lr 0.0005 --lr-schedule cosine --diagnose-every 1000"
# shellcheck disable=SC2086
ACT_G="$(with_data2 $(act_args "$HEAD_WORK/f" "$HEAD_WORK/g" "$ACT_G_STEPS")) --lr 0.0003 --lr-schedule cosine --diagnose-every 1000 --full-mask-fraction $ACT_FULL_MASK"
train_stage() {  # $1: output folder, then `vla` arguments: trains (resuming) unless $1 holds a model; WORK=$1
    local out=$1; shift
    if [ ! -f "$out/model.safetensors" ]; then
        OMP_NUM_THREADS=1 "$(dirname "$PY")/torchrun" --standalone --nproc_per_node "$NPROC" -m vla.cli "$@" --resume
    fi
    WORK=$out
}
# shellcheck disable=SC2086
if [ "$HEAD_STEPS" -gt 0 ]; then
    echo "[$(date -u +%FT%TZ)] stage 2b: spatial grounding head on the frozen model -> $HEAD_WORK/{a,b}"
    train_stage "$HEAD_WORK/a" $HEAD_A
    train_stage "$HEAD_WORK/b" $HEAD_B
    for r in $(seq 1 "$ROUNDS"); do
        echo "[$(date -u +%FT%TZ)] stage 2c, round $r: rollouts of $WORK -> $ROLL/r$r, head -> $HEAD_WORK/c$r"
        pids=()
        for i in 0 1; do
            half=a; [ "$i" = 1 ] && half=b
            if [ ! -f "$ROLL/r$r/$half/summary.json" ]; then
                # shellcheck disable=SC2086
                OMP_NUM_THREADS=1 "$PY" -m vla.cli ${ROLL_CMDS[$((2 * (r - 1) + i))]} &
                pids+=($!)
            fi
        done
        for pid in "${pids[@]}"; do wait "$pid"; done
        train_stage "$HEAD_WORK/c$r" ${HEAD_C[$((r - 1))]}
    done
    if [ "$ACT_STEPS" -gt 0 ]; then
        echo "[$(date -u +%FT%TZ)] stage 2d: action model on the head's own points -> $HEAD_WORK/d"
        train_stage "$HEAD_WORK/d" $ACT
        if [ "$ACT_E_STEPS" -gt 0 ]; then
            echo "[$(date -u +%FT%TZ)] stage 2e: one-pass fine-tune (all-masked rows) -> $HEAD_WORK/e"
            train_stage "$HEAD_WORK/e" $ACT_E
        fi
        if [ "$EXTRA_DEMOS_PER_TASK" -gt 0 ] && [ "$HEAD_F_STEPS" -gt 0 ]; then
            echo "[$(date -u +%FT%TZ)] stage 2f: the head on $DATA and $DATA2 -> $HEAD_WORK/f"
            train_stage "$HEAD_WORK/f" $HEAD_F
            if [ "$ACT_G_STEPS" -gt 0 ]; then
                echo "[$(date -u +%FT%TZ)] stage 2g: the action model on $DATA and $DATA2 -> $HEAD_WORK/g"
                train_stage "$HEAD_WORK/g" $ACT_G
            fi
        fi
    fi
fi

echo "[$(date -u +%FT%TZ)] stage 3: export -> $OUT"
mkdir -p "$OUT"
for f in config.json model.safetensors norm_stats.json tokenizer.json tokenizer_config.json special_tokens_map.json; do
    [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/$f"
done
cp "$WORK/train_log.csv" "$OUT/train_log.csv" 2>/dev/null || true
if [ -n "$DECODER" ]; then echo "$DECODER" > "$OUT/decoder.json"; else rm -f "$OUT/decoder.json"; fi
"$PY" - "$OUT/demos_summary.json" "$DATA" "$( [ "$EXTRA_DEMOS_PER_TASK" -gt 0 ] && echo "$DATA2" || echo /nonexistent)" <<'PYEOF'
import json, sys
from pathlib import Path
# stage 1's halves as "a" / "b"; stage 1b's (when collected) as "extra_a" / "extra_b"
out = {}
for prefix, root in (("", sys.argv[2]), ("extra_", sys.argv[3])):
    for h in ("a", "b"):
        f = Path(root) / h / "summary.json"
        if f.is_file():
            out[prefix + h] = json.loads(f.read_text())
json.dump(out, open(sys.argv[1], "w"), indent=2)
PYEOF
cp "$WORK/diagnostics.jsonl" "$OUT/diagnostics.jsonl" 2>/dev/null || true
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
ACTION_NOISE=$ACTION_NOISE STEPS=$STEPS BATCH=$BATCH HOLDOUT=$HOLDOUT NPROC=$NPROC HEAD_STEPS=$HEAD_STEPS
HEAD_B_STEPS=$HEAD_B_STEPS ROUNDS=$ROUNDS ROLLOUTS_PER_TASK=$ROLLOUTS_PER_TASK HEAD_C_STEPS=$HEAD_C_STEPS
ACT_STEPS=$ACT_STEPS ACT_TEACHER=$ACT_TEACHER ACT_NOISE=$ACT_NOISE ACT_FULL_MASK=$ACT_FULL_MASK ACT_E_STEPS=$ACT_E_STEPS
ACT_E_FULL_MASK=$ACT_E_FULL_MASK EXTRA_DEMOS_PER_TASK=$EXTRA_DEMOS_PER_TASK EXTRA_SEED=$EXTRA_SEED
HEAD_F_STEPS=$HEAD_F_STEPS ACT_G_STEPS=$ACT_G_STEPS DECODER='$DECODER', i.e. exactly (each pair of
collections runs in parallel):

\`\`\`
vla $(collect_args "$TASKS_A" "$DATA/a")
vla $(collect_args "$TASKS_B" "$DATA/b")
OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node $NPROC -m vla.cli ${TRAIN[*]}
$( [ "$HEAD_STEPS" -gt 0 ] && printf 'OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node %s -m vla.cli %s\nOMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node %s -m vla.cli %s' "$NPROC" "$HEAD_A" "$NPROC" "$HEAD_B" )
$( [ "$HEAD_STEPS" -gt 0 ] && for r in $(seq 1 "$ROUNDS"); do printf 'vla %s\nvla %s\nOMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node %s -m vla.cli %s\n' "${ROLL_CMDS[$((2 * (r - 1)))]}" "${ROLL_CMDS[$((2 * (r - 1) + 1))]}" "$NPROC" "${HEAD_C[$((r - 1))]}"; done )
$( [ "$HEAD_STEPS" -gt 0 ] && [ "$ACT_STEPS" -gt 0 ] && printf 'OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node %s -m vla.cli %s' "$NPROC" "$ACT" )
$( [ "$HEAD_STEPS" -gt 0 ] && [ "$ACT_STEPS" -gt 0 ] && [ "$ACT_E_STEPS" -gt 0 ] && printf 'OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node %s -m vla.cli %s' "$NPROC" "$ACT_E" )
$( [ "$EXTRA_DEMOS_PER_TASK" -gt 0 ] && printf 'vla %s\nvla %s' "$(collect_args "$TASKS_A" "$DATA2/a" "$EXTRA_DEMOS_PER_TASK" "$EXTRA_SEED")" "$(collect_args "$TASKS_B" "$DATA2/b" "$EXTRA_DEMOS_PER_TASK" "$EXTRA_SEED")" )
$( [ "$HEAD_STEPS" -gt 0 ] && [ "$ACT_STEPS" -gt 0 ] && [ "$EXTRA_DEMOS_PER_TASK" -gt 0 ] && [ "$HEAD_F_STEPS" -gt 0 ] && printf 'OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node %s -m vla.cli %s' "$NPROC" "$HEAD_F" )
$( [ "$HEAD_STEPS" -gt 0 ] && [ "$ACT_STEPS" -gt 0 ] && [ "$EXTRA_DEMOS_PER_TASK" -gt 0 ] && [ "$HEAD_F_STEPS" -gt 0 ] && [ "$ACT_G_STEPS" -gt 0 ] && printf 'OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node %s -m vla.cli %s' "$NPROC" "$ACT_G" )
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
