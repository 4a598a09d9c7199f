// C entry points over the emulated runtime, for tools/cuda_emu/tests/test_blas.py (ctypes).
#include <cstring>

#include "cuda_runtime.h"

extern "C" {
void* emu_malloc(size_t bytes) {
  void* p = nullptr;
  return cudaMalloc(&p, bytes) == cudaSuccess ? p : nullptr;
}
int emu_free(void* p) { return cudaFree(p); }
int emu_h2d(void* dst, const void* src, size_t bytes) {
  return cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
}
int emu_d2h(void* dst, const void* src, size_t bytes) {
  return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
}
}
