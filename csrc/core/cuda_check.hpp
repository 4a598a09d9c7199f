// Error checks and launch helpers for the CUDA sources (as Caffe's device_alternate.hpp):
// a failed CUDA or cuBLAS call throws augdrop::Error naming the call.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/errors.hpp"

// cudaGetLastError() clears the runtime's sticky copy of a recoverable error (out of memory,
// bad launch configuration), so that a caller who catches the exception can go on.
#define AD_CUDA_CHECK(expr)                                                            \
  do {                                                                                 \
    const cudaError_t ad_err_ = (expr);                                                \
    if (ad_err_ != cudaSuccess) cudaGetLastError();                                    \
    AD_CHECK(ad_err_ == cudaSuccess, "CUDA error: " << cudaGetErrorString(ad_err_)     \
                                                    << " in " #expr);                  \
  } while (0)

#define AD_CUBLAS_CHECK(expr)                                                          \
  do {                                                                                 \
    const cublasStatus_t ad_status_ = (expr);                                          \
    AD_CHECK(ad_status_ == CUBLAS_STATUS_SUCCESS,                                      \
             "cuBLAS error " << static_cast<int>(ad_status_) << " in " #expr);         \
  } while (0)

// A launch's error (bad configuration, no kernel image for this GPU) right after it.
#define AD_CUDA_POST_KERNEL_CHECK AD_CUDA_CHECK(cudaGetLastError())

// Grid-stride loop over [0, n).
#define AD_CUDA_KERNEL_LOOP(i, n)                                                      \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n);            \
       i += int64_t(blockDim.x) * gridDim.x)

namespace augdrop {

constexpr int kCudaThreads = 512;
inline int CudaBlocks(int64_t n) {
  const int64_t blocks = (n + kCudaThreads - 1) / kCudaThreads;
  return static_cast<int>(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}


}  // namespace augdrop
