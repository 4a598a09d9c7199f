// ReLU on the GPU (Caffe's relu_layer.cu): the same formulas as relu_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/relu_layer.hpp"

namespace augdrop {
namespace {

__global__ void ReLUForward(int64_t n, const float* x, float* y, float slope) {
  // std::max / std::min's comparisons, not fmaxf / fminf: a NaN input stays NaN, as on the CPU
  // and in Caffe, so a diverging run is caught at its first non-finite loss.
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float v = x[i];
    y[i] = (v < 0.f ? 0.f : v) + slope * (0.f < v ? 0.f : v);
  }
}

__global__ void ReLUBackward(int64_t n, const float* dy, const float* x, float* dx, float slope) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] * ((x[i] > 0) + slope * (x[i] <= 0));
}

}  // namespace

void ReLULayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  ReLUForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                               top[0]->mutable_gpu_data(), negative_slope_);
  AD_CUDA_POST_KERNEL_CHECK;
}

void ReLULayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  ReLUBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), bottom[0]->gpu_data(),
                                                bottom[0]->mutable_gpu_diff(), negative_slope_);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
