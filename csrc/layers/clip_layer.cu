// Clip on the GPU (Caffe's clip_layer.cu): the same formulas as clip_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/clip_layer.hpp"

namespace augdrop {
namespace {

__global__ void ClipForward(int64_t n, const float* x, float* y, float lo, float hi) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float v = x[i] < hi ? x[i] : hi;
    y[i] = lo < v ? v : lo;
  }
}

__global__ void ClipBackward(int64_t n, const float* dy, const float* x, float* dx, float lo,
                             float hi) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] * (x[i] >= lo && x[i] <= hi);
}

}  // namespace

void ClipLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  ClipForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                               top[0]->mutable_gpu_data(), min_, max_);
  AD_CUDA_POST_KERNEL_CHECK;
}

void ClipLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  ClipBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), bottom[0]->gpu_data(),
                                                bottom[0]->mutable_gpu_diff(), min_, max_);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
