#!/usr/bin/env bash
# The decoding and latency benchmarks on one CUDA GPU, JSON under one folder (< 8 min on one GPU).
#
#   scripts/gpu_bench.sh                 # -> reports/gpu/<date>/
#   OUT=reports/gpu/h200 scripts/gpu_bench.sh
#
# 1. bench_masked_decoding.py on cuda: every masked decoder, 56- and 256-token canvases, prefix cache
#    refresh 1 / 4 / 100 (NFE, latency, agreement)
# 2. bench_policy_latency.py on cuda: observation -> action chunk latency for the policy sizes
# 3. bench_text_decoding.py: AR / prompt lookup / speculative side by side with transformers
#    (its models are tiny and CPU-sized; it runs on the CPU threads of the GPU machine)
# Each step is skipped when its JSON exists, so a cut-short run continues. Exits 2 without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${OUT:-reports/gpu/$(date -u +%Y%m%d)}
mkdir -p "$OUT"
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_bench: no CUDA device visible to torch; nothing to measure" >&2
    exit 2
fi
"$PY" -c 'import torch; print("gpu:", torch.cuda.get_device_name(0), "| torch", torch.__version__)' | tee "$OUT/device.txt"
nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv >> "$OUT/device.txt" 2>/dev/null || true
run() {  # $1: json name, rest: command
    local json=$1; shift
    if [ -f "$OUT/$json" ]; then echo "skip $json (exists)"; return; fi
    echo "[$(date -u +%T)] $*"
    timeout 240 "$@" 2>&1 | tee "$OUT/${json%.json}.log" | tail -n 25
}
run bench_masked_decoding.json "$PY" scripts/bench_masked_decoding.py --device cuda --out "$OUT/bench_masked_decoding.json"
run bench_policy_latency.json "$PY" scripts/bench_policy_latency.py --device cuda --repeats 10 --out "$OUT/bench_policy_latency.json"
run bench_text_decoding.json "$PY" scripts/bench_text_decoding.py --threads 4 --out "$OUT/bench_text_decoding.json"
echo "[$(date -u +%T)] done: $OUT"
