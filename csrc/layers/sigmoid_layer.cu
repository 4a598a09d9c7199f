// Sigmoid on the GPU (Caffe's sigmoid_layer.cu): the same formulas as sigmoid_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/sigmoid_layer.hpp"

namespace augdrop {
namespace {

__global__ void SigmoidForward(int64_t n, const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = 0.5f * tanhf(0.5f * x[i]) + 0.5f;
}

__global__ void SigmoidBackward(int64_t n, const float* dy, const float* y, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] * y[i] * (1.f - y[i]);
}

}  // namespace

void SigmoidLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  SigmoidForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                                  top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void SigmoidLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  SigmoidBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), top[0]->gpu_data(),
                                                   bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
