// Power on the GPU (Caffe's power_layer.cu): the same formulas as power_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/power_layer.hpp"

namespace augdrop {
namespace {

__global__ void PowerForward(int64_t n, const float* x, float* y, float power, float scale,
                             float shift, float diff_scale) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    if (diff_scale == 0) {
      y[i] = power == 0 ? 1.f : powf(shift, power);
    } else {
      const float v = scale * x[i] + shift;
      y[i] = power == 1 ? v : powf(v, power);
    }
  }
}

__global__ void PowerBackward(int64_t n, const float* dy, const float* x, const float* y,
                              float* dx, float power, float scale, float shift,
                              float diff_scale) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    if (diff_scale == 0 || power == 1) {
      dx[i] = diff_scale == 0 ? 0.f : diff_scale * dy[i];
    } else if (power == 2) {
      dx[i] = (diff_scale * scale * x[i] + diff_scale * shift) * dy[i];
    } else if (shift == 0) {
      dx[i] = (y[i] / x[i] * power) * dy[i];
    } else {
      dx[i] = (y[i] / (scale * x[i] + shift) * diff_scale) * dy[i];
    }
  }
}

}  // namespace

void PowerLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  PowerForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                                top[0]->mutable_gpu_data(), power_, scale_,
                                                shift_, diff_scale_);
  AD_CUDA_POST_KERNEL_CHECK;
}

void PowerLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  PowerBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), bottom[0]->gpu_data(),
                                                 top[0]->gpu_data(), bottom[0]->mutable_gpu_diff(),
                                                 power_, scale_, shift_, diff_scale_);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
