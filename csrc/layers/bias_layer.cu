// Bias on the GPU (Caffe's bias_layer.cu): the same formulas as bias_layer.cpp. dbias is summed
// by one block per bias element (a tree, not the host loops' order).
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/bias_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

__global__ void BiasForward(int64_t n, const float* x, const float* bias, int64_t bias_dim,
                            int64_t inner_dim, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = x[i] + bias[(i / inner_dim) % bias_dim];
}

// dbias[d] (+)= sum_{o, k} dy[o, d, k]; one block per d (grid-stride over d).
__global__ void BiasGrad(int64_t outer_dim, int64_t bias_dim, int64_t inner_dim,
                         const float* dy, bool accumulate, float* dbias) {
  for (int64_t d = blockIdx.x; d < bias_dim; d += gridDim.x) {
    float s = 0.f;
    for (int64_t t = threadIdx.x; t < outer_dim * inner_dim; t += blockDim.x) {
      const int64_t n = t / inner_dim, k = t % inner_dim;
      s += dy[(n * bias_dim + d) * inner_dim + k];
    }
    s = BlockSum(s);
    if (threadIdx.x == 0) dbias[d] = accumulate ? dbias[d] + s : s;
  }
}

}  // namespace

void BiasLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = bottom[0]->count();
  const float* bias = (bottom.size() > 1 ? bottom[1] : blobs_[0].get())->gpu_data();
  BiasForward<<<CudaBlocks(count), kCudaThreads>>>(count, bottom[0]->gpu_data(), bias, bias_dim_,
                                                   inner_dim_, top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void BiasLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  const float* dy = top[0]->gpu_diff();
  if (propagate_down[0] && bottom[0] != top[0])
    gpu_copy(bottom[0]->count(), dy, bottom[0]->mutable_gpu_diff());
  const bool learned = bottom.size() == 1;
  if ((learned && param_propagate_down(0)) || (!learned && propagate_down[1])) {
    float* dbias = (learned ? blobs_[0].get() : bottom[1])->mutable_gpu_diff();
    const int blocks =
        static_cast<int>(bias_dim_ < 65535 ? (bias_dim_ > 0 ? bias_dim_ : 1) : 65535);
    BiasGrad<<<blocks, kReduceThreads>>>(outer_dim_, bias_dim_, inner_dim_, dy, learned, dbias);
    AD_CUDA_POST_KERNEL_CHECK;
  }
}

}  // namespace augdrop
