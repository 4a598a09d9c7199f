// A block-wide float sum for the CUDA kernels that reduce rows (BatchNorm, Scale).
#pragma once

#include <cuda_runtime.h>

namespace augdrop {

constexpr int kReduceThreads = 256;  // threads of a reducing block: a multiple of 32, <= 1024

// The sum of v over the block, valid in thread 0; blockDim.x a multiple of 32.
__device__ inline float BlockSum(float v) {
  __shared__ float warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x >> 5) ? warp_sums[lane] : 0.f;
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  __syncthreads();  // warp_sums is reused by the next call
  return v;
}

}  // namespace augdrop
