// Reduction on the GPU (Caffe's reduction_layer.cu): the same formulas as reduction_layer.cpp.
// Each row is summed by one block (a tree, BlockSum), so the top agrees with the host's
// in-order double sums to float rounding, not bit for bit.
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/reduction_layer.hpp"

namespace augdrop {
namespace {

using Op = ReductionLayer::Op;

// y[r] = coeff * op(x[r, :]); x: (rows, dim). One block a row.
__global__ void ReduceRows(int64_t rows, int64_t dim, const float* x, Op op, float coeff,
                           float* y) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = x + r * dim;
    float s = 0.f;
    for (int64_t k = threadIdx.x; k < dim; k += blockDim.x) {
      const float v = row[k];
      s += op == Op::ASUM ? fabsf(v) : (op == Op::SUMSQ ? v * v : v);
    }
    s = BlockSum(s);
    if (threadIdx.x == 0) y[r] = coeff == 1.f ? s : coeff * s;
  }
}

// dx[r, k] = c * (1 | sign(x) | 2x), c = coeff * dy[r].
__global__ void ReduceBackward(int64_t n, int64_t dim, const float* x, const float* dy, Op op,
                               float coeff, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float c = dy[i / dim] * coeff;
    if (op == Op::ASUM)
      dx[i] = c * float((0.f < x[i]) - (x[i] < 0.f));
    else if (op == Op::SUMSQ)
      dx[i] = (2 * c) * x[i];
    else
      dx[i] = c;
  }
}

}  // namespace

void ReductionLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  if (num_ == 0) return;
  int threads = 32;
  while (threads < kReduceThreads && threads < dim_) threads *= 2;
  const int64_t max_blocks = 65535 * 16;
  const int blocks = static_cast<int>(num_ < max_blocks ? num_ : max_blocks);
  ReduceRows<<<blocks, threads>>>(num_, dim_, bottom[0]->gpu_data(), op_, coeff_,
                                  top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void ReductionLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  if (n == 0) return;
  ReduceBackward<<<CudaBlocks(n), kCudaThreads>>>(n, dim_, bottom[0]->gpu_data(),
                                                  top[0]->gpu_diff(), op_, coeff_,
                                                  bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
