// PReLU on the GPU (Caffe's prelu_layer.cu): the same formulas as prelu_layer.cpp. The slope
// gradient is summed per channel by one block each (a tree, not the host's running order).
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/prelu_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// div_factor = C when the slope is shared, so every channel index becomes 0.
__global__ void PReLUForward(int64_t n, int64_t channels, int64_t dim, const float* x,
                             const float* slope, int64_t div_factor, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t c = (i / dim) % channels / div_factor;
    const float v = x[i];
    y[i] = (v < 0.f ? 0.f : v) + slope[c] * (0.f < v ? 0.f : v);
  }
}

__global__ void PReLUBackward(int64_t n, int64_t channels, int64_t dim, const float* dy,
                              const float* x, const float* slope, int64_t div_factor,
                              float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t c = (i / dim) % channels / div_factor;
    dx[i] = dy[i] * ((x[i] > 0) + slope[c] * (x[i] <= 0));
  }
}

// dslope[s] += sum over the elements of slope s of dy * x * [x <= 0]; one block per slope.
// shared: one slope over all (N, C, dim) elements; else slope c over (N, dim).
__global__ void PReLUSlopeGrad(int64_t num, int64_t channels, int64_t dim, bool shared,
                               const float* dy, const float* x, float* dslope) {
  const int64_t c = blockIdx.x;
  const int64_t per_n = shared ? channels * dim : dim;
  const int64_t total = num * per_n;
  float s = 0.f;
  for (int64_t k = threadIdx.x; k < total; k += blockDim.x) {
    const int64_t n = k / per_n, j = k % per_n;
    const int64_t i = shared ? n * per_n + j : (n * channels + c) * dim + j;
    s += dy[i] * x[i] * (x[i] <= 0);
  }
  s = BlockSum(s);
  if (threadIdx.x == 0) dslope[c] += s;
}

}  // namespace

void PReLULayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = bottom[0]->count();
  const int64_t channels = bottom[0]->shape(1);
  if (bottom[0] == top[0])
    gpu_copy(count, bottom[0]->gpu_data(), bottom_memory_.mutable_gpu_data());
  PReLUForward<<<CudaBlocks(count), kCudaThreads>>>(
      count, channels, bottom[0]->count(2), bottom[0]->gpu_data(), blobs_[0]->gpu_data(),
      channel_shared_ ? channels : 1, top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void PReLULayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  const int64_t count = bottom[0]->count();
  const int64_t channels = bottom[0]->shape(1);
  const int64_t dim = bottom[0]->count(2);
  const float* x = (bottom[0] == top[0] ? &bottom_memory_ : bottom[0])->gpu_data();
  const float* dy = top[0]->gpu_diff();
  if (param_propagate_down(0)) {
    const int blocks = channel_shared_ ? 1 : static_cast<int>(channels);
    PReLUSlopeGrad<<<blocks, kReduceThreads>>>(bottom[0]->shape(0), channels, dim,
                                               channel_shared_, dy, x,
                                               blobs_[0]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
  if (propagate_down[0]) {
    PReLUBackward<<<CudaBlocks(count), kCudaThreads>>>(count, channels, dim, dy, x,
                                                       blobs_[0]->gpu_data(),
                                                       channel_shared_ ? channels : 1,
                                                       bottom[0]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
}

}  // namespace augdrop
