#!/usr/bin/env bash
# Every check that needs a CUDA GPU, then the GPU figures, in under 8 minutes on one GPU, offline.
#
#   bash benchmarks/gpu_check.sh            # writes ${OUT:-.}/gpu_check.json (and gpu_check.log beside it)
#
# Parts (timed, in the JSON): kernels equal to naive in fp32/bf16/fp16 (forward and backward),
# sdpa's flash and memory-efficient backends, the whole model per kernel, greedy generation equal
# with no cache / growing cache / static cache / compiled static step / transformers, torch.compile
# equal to eager, bf16 and fp16 (+ loss scaling) training, the training throughput benchmark
# (tokens/s, MFU, vs transformers) and generation tokens/s vs transformers.
# Fails loudly (exit 2) when there is no CUDA GPU, and exit 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir="${OUT:-.}"
mkdir -p "$out_dir"
json="$out_dir/gpu_check.json"
log="$out_dir/gpu_check.log"
python=${PYTHON:-python}

if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: FAILED: torch $("$python" -c 'import torch; print(torch.__version__)') sees no CUDA GPU." >&2
  echo "gpu_check: run this on a CUDA machine (with a CUDA build of torch)." >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$out_dir/inductor-cache}"
start=$(date +%s)
status=0
# 450 s of parts (optional ones skip when short of time) inside a hard 470 s limit
timeout --kill-after=10 470 "$python" benchmarks/gpu_check.py --out "$json" --budget 450 2>&1 | tee "$log" \
  || status=$?
echo "gpu_check: total $(( $(date +%s) - start )) s, exit ${status}; figures in $json"
exit "$status"
