// MVN on the GPU (Caffe's mvn_layer.cu): the same formulas as mvn_layer.cpp, one block per row
// (sums as a tree over the block, not the host's running order).
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/mvn_layer.hpp"

namespace augdrop {
namespace {

// The block's sum of v, in every thread.
__device__ float BlockSumAll(float v) {
  __shared__ float total;
  v = BlockSum(v);
  if (threadIdx.x == 0) total = v;
  __syncthreads();
  const float out = total;
  __syncthreads();  // total is reused by the next call
  return out;
}

// x, y: (rows, dim), y may alias x; mean, sd: (rows).
__global__ void MVNForward(int64_t rows, int64_t dim, const float* x, bool normalize_variance,
                           float eps, float* mean, float* sd, float* y) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    float s = 0.f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i];
    const float m = BlockSumAll(s) / float(dim);
    float sq = 0.f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      yr[i] = xr[i] - m;
      sq += yr[i] * yr[i];
    }
    if (threadIdx.x == 0) mean[r] = m;
    if (!normalize_variance) continue;
    const float d = sqrtf(BlockSumAll(sq) / float(dim)) + eps;
    if (threadIdx.x == 0) sd[r] = d;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] /= d;
  }
}

// dx may alias dy: each thread reads only the elements it writes.
__global__ void MVNBackward(int64_t rows, int64_t dim, const float* y, const float* dy,
                            const float* sd, bool normalize_variance, float* dx) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* yr = y + r * dim;
    const float* dyr = dy + r * dim;
    float* dxr = dx + r * dim;
    float s = 0.f, d = 0.f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      s += dyr[i];
      d += dyr[i] * yr[i];
    }
    s = BlockSumAll(s);
    d = BlockSumAll(d);
    const float inv_dim = 1.f / float(dim);
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
      dxr[i] = normalize_variance ? (dyr[i] - inv_dim * (yr[i] * d + s)) / sd[r]
                                  : dyr[i] - inv_dim * s;
  }
}

int RowBlocks(int64_t rows) {
  return static_cast<int>(rows < 65535 ? (rows > 0 ? rows : 1) : 65535);
}

}  // namespace

void MVNLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  MVNForward<<<RowBlocks(rows_), kReduceThreads>>>(
      rows_, dim_, bottom[0]->gpu_data(), normalize_variance_, eps_, mean_.mutable_gpu_data(),
      stddev_.mutable_gpu_data(), top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void MVNLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  MVNBackward<<<RowBlocks(rows_), kReduceThreads>>>(rows_, dim_, top[0]->gpu_data(),
                                                     top[0]->gpu_diff(), stddev_.gpu_data(),
                                                     normalize_variance_,
                                                     bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
