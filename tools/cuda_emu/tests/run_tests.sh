#!/bin/sh
# Builds and runs the emulator's own tests (kernels in every thread order, cuBLAS vs numpy).
set -e
here=$(cd "$(dirname "$0")" && pwd)
emu=$(dirname "$here")
out=${1:-/tmp/emu-tests}
mkdir -p "$out"
python3 "$emu/rewrite_cu.py" "$here/test_kernels.cu" "$out/test_kernels.cu.cpp" -v
g++ -std=gnu++17 -O2 -march=native -I"$emu/include" "$out/test_kernels.cu.cpp" "$emu/cuda_emu.cpp" -o "$out/test_kernels"
for order in forward reverse shuffle; do
  echo "== EMU_ORDER=$order"
  EMU_ORDER=$order "$out/test_kernels" 2>"$out/stderr-$order.txt"
done
g++ -std=gnu++17 -O2 -march=native -fPIC -shared -I"$emu/include" "$emu/cuda_emu.cpp" "$here/capi.cpp" -o "$out/libcudaemu.so"
python3 "$here/test_blas.py" "$out/libcudaemu.so" 2>/dev/null
