// TanH on the GPU (Caffe's tanh_layer.cu): the same formulas as tanh_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/tanh_layer.hpp"

namespace augdrop {
namespace {

__global__ void TanHForward(int64_t n, const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = tanhf(x[i]);
}

__global__ void TanHBackward(int64_t n, const float* dy, const float* y, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] * (1.f - y[i] * y[i]);
}

}  // namespace

void TanHLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  TanHForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                               top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void TanHLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  TanHBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), top[0]->gpu_data(),
                                                bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
