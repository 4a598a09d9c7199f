// Threshold on the GPU (Caffe's threshold_layer.cu): the same formula as threshold_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/threshold_layer.hpp"

namespace augdrop {
namespace {

__global__ void ThresholdForward(int64_t n, const float* x, float* y, float threshold) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = x[i] > threshold ? 1.f : 0.f;
}

}  // namespace

void ThresholdLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  ThresholdForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                                    top[0]->mutable_gpu_data(), threshold_);
  AD_CUDA_POST_KERNEL_CHECK;
}

void ThresholdLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  Backward_cpu(top, propagate_down, bottom);
}

}  // namespace augdrop
