// Log on the GPU (Caffe's log_layer.cu): the same formulas as log_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/log_layer.hpp"

namespace augdrop {
namespace {

__global__ void LogForward(int64_t n, const float* x, float* y, float scale, float shift,
                           float base_scale) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = logf(scale * x[i] + shift) * base_scale;
}

__global__ void LogBackward(int64_t n, const float* dy, const float* x, float* dx, float scale,
                            float shift, float num) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] * (num / (scale * x[i] + shift));
}

}  // namespace

void LogLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  LogForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                              top[0]->mutable_gpu_data(), input_scale_,
                                              input_shift_, base_scale_);
  AD_CUDA_POST_KERNEL_CHECK;
}

void LogLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  LogBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), bottom[0]->gpu_data(),
                                               bottom[0]->mutable_gpu_diff(), input_scale_,
                                               input_shift_, backward_num_scale_);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
