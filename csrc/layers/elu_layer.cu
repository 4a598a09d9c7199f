// ELU on the GPU (Caffe's elu_layer.cu): the same formulas as elu_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/elu_layer.hpp"

namespace augdrop {
namespace {

__global__ void ELUForward(int64_t n, const float* x, float* y, float alpha) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float v = x[i];
    y[i] = v > 0 ? v : alpha * (expf(v) - 1.f);
  }
}

__global__ void ELUBackward(int64_t n, const float* dy, const float* x, const float* y,
                            float* dx, float alpha) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = x[i] > 0 ? dy[i] : dy[i] * (y[i] + alpha);
}

}  // namespace

void ELULayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  ELUForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                              top[0]->mutable_gpu_data(), alpha_);
  AD_CUDA_POST_KERNEL_CHECK;
}

void ELULayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  ELUBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), bottom[0]->gpu_data(),
                                               top[0]->gpu_data(), bottom[0]->mutable_gpu_diff(),
                                               alpha_);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
