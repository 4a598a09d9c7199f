#!/usr/bin/env bash
# The GPU code's logic on the CPU: builds this checkout with the CUDA sources compiled for the
# emulator in tools/cuda_emu (no nvcc, no GPU) into a separate folder, then runs
# tests/test_gpu.py and tests/test_gpu_extra.py against it, in the thread orders given
# (EMU_ORDERS, default "forward shuffle": a result that changes with the order is a race).
# CI runs it; see tools/cuda_emu/README.md for what the emulation shows and what it cannot.
#   bash scripts/emulated_gpu_check.sh [SITE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
SITE="${1:-${TMPDIR:-/tmp}/augdrop-emu-site}"
python -m pip install --quiet --no-deps --upgrade --target "$SITE" \
  -C build-dir=build/emu -C cmake.define.AUGDROP_CUDA_EMU=ON -C cmake.define.AUGDROP_CUDA=OFF .
PYTHONPATH="$SITE" python -c "import augdrop_caffe as c; print('emulated:', c.__file__, c.backends())"
for order in ${EMU_ORDERS:-forward shuffle}; do
  echo "== EMU_ORDER=$order"
  EMU_ORDER=$order PYTHONPATH="$SITE" python -m pytest -q -p no:cacheprovider \
    tests/test_gpu.py tests/test_gpu_extra.py
done
