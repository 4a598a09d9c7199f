// Swish on the GPU (Caffe's swish_layer.cu): the same formulas as swish_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/swish_layer.hpp"

namespace augdrop {
namespace {

__global__ void SwishForward(int64_t n, const float* x, float* s, float* y, float beta) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float v = x[i];
    s[i] = 0.5f * tanhf(0.5f * (beta * v)) + 0.5f;
    y[i] = v * s[i];
  }
}

__global__ void SwishBackward(int64_t n, const float* dy, const float* y, const float* s,
                              float* dx, float beta) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] * (beta * y[i] + s[i] * (1.f - beta * y[i]));
}

}  // namespace

void SwishLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  SwishForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                                sigmoid_.mutable_gpu_data(),
                                                top[0]->mutable_gpu_data(), beta_);
  AD_CUDA_POST_KERNEL_CHECK;
}

void SwishLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  SwishBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), top[0]->gpu_data(),
                                                 sigmoid_.gpu_data(),
                                                 bottom[0]->mutable_gpu_diff(), beta_);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
