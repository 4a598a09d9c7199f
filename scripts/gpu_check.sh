#!/usr/bin/env bash
# The GPU check (issue 6), for a session that is lent a GPU machine: builds this checkout with
# the CUDA backend, runs the GPU tests (tests/test_gpu.py and tests/test_gpu_extra.py: every
# layer against the CPU, solver steps, every Caffe golden case in GPU mode, the device masks'
# statistics, in-place layers, solver options), then times LeNet and cifar10_quick
# training at batch 100 on the GPU against PyTorch on the same GPU. A few minutes:
#
#   bash scripts/gpu_check.sh [GOLDEN_DIR]
#
# GOLDEN_DIR defaults to $AUGDROP_GOLDEN, then .gpu-carry/caffe-golden, then
# ../shared/caffe-golden. The device machine reaches no network and gets only the checkout, so
# prepare once on the development machine (both folders are git-ignored there by
# .git/info/exclude, and travel with the `device` tool's carry):
#   mkdir -p .gpu-carry && cp -r ../shared/caffe-golden .gpu-carry/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux2014_x86_64 -d .gpu-carry/wheels scipy-openblas32
# and carry ".gpu-carry". Everything it prints also goes to $OUT/gpu_check.log when OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG="${OUT:-/tmp}/gpu_check.log"
exec > >(tee "$LOG") 2>&1
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
if ls .gpu-carry/wheels/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps .gpu-carry/wheels/*.whl || exit 1
fi
echo "== build (CUDA backend)"
# CMake finds nvcc on PATH or through CUDACXX; without it the build is CPU-only (checked below).
if ! command -v nvcc >/dev/null 2>&1 && [ -z "${CUDACXX:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
time $PY -m pip install -q --no-build-isolation --no-deps . || exit 1
$PY -c "import augdrop_caffe as c; b = c.backends(); print(b)
assert b['cuda_compiled'], 'built without the CUDA backend: nvcc or the cuBLAS headers not found'
assert b['gpu_usable'], 'CUDA backend built, but no GPU usable'" || exit 1

GOLDEN="${1:-${AUGDROP_GOLDEN:-}}"
[ -z "$GOLDEN" ] && [ -d .gpu-carry/caffe-golden ] && GOLDEN=.gpu-carry/caffe-golden
[ -z "$GOLDEN" ] && GOLDEN=../shared/caffe-golden
export AUGDROP_GOLDEN="$GOLDEN"
echo "== GPU tests (golden cases from $AUGDROP_GOLDEN)"
$PY -m pytest -q tests/test_gpu.py tests/test_gpu_extra.py
TESTS=$?
# On a real GPU a bad memory access surfaces at a later call and spoils the rest of the
# process; rerun failures with launches made synchronous, so the error names its kernel.
if [ $TESTS -ne 0 ]; then
  echo "== failures again, with CUDA_LAUNCH_BLOCKING=1"
  CUDA_LAUNCH_BLOCKING=1 $PY -m pytest -q --lf -x tests/test_gpu.py tests/test_gpu_extra.py
fi

echo "== training speed on the GPU: this project against PyTorch on the same GPU"
$PY bench/bench_train.py --device cuda --rounds 5 --iterations 50
exit $TESTS
