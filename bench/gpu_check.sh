#!/usr/bin/env bash
# The checks for a machine with a CUDA GPU, at most 8 minutes in all: the device tests on the GPU, the GAN bench on it,
# and a 30-epoch vanilla train-gan on it. Each step's output also goes to OUT_DIR (tests.log, bench.log, train.log,
# and the run folder vanilla/); the exit status is 1 if any step failed or ran past its time.
#
#   bash bench/gpu_check.sh [FASHION_MNIST_DIR] [OUT_DIR]     (defaults: Debian's folder, artifacts/gpu)
#
# It runs .venv/bin/python where `make install` made one, else python3 with hw3cli's packages already installed
# (torch, torchvision, typer, rich, safetensors, regex, matplotlib, pytest), from this checkout.
set -uo pipefail
data=$(realpath -m "${1:-/usr/share/datasets/fashion-mnist}")
out=$(realpath -m "${2:-artifacts/gpu}")
cd "$(dirname "$0")/.."
python=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}  # repeatable cuBLAS products (--deterministic)
mkdir -p "$out"
status=0
step() {  # step SECONDS LOG COMMAND...: run it, its output on screen and in OUT_DIR/LOG, within SECONDS
  local seconds=$1 log=$2
  shift 2
  echo "== $* (at most $seconds s)"
  timeout "$seconds" "$@" 2>&1 | tee "$out/$log" || status=1
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
step 240 tests.log "$python" -m pytest -p no:cacheprovider tests/test_devices.py tests/test_determinism.py \
  --device cuda
step 90 bench.log "$python" bench/gan_bench.py --device cuda --data "$data" --warmup 200
step 150 train.log "$python" -m hw3cli train-gan --device cuda --epochs 30 --data "$data" --out "$out/vanilla" \
  --overwrite
exit $status
