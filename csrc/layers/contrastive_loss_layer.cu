// ContrastiveLoss on the GPU (Caffe's contrastive_loss_layer.cu): the distances on the device,
// the loss summed on the host from them (as Caffe does), the gradient per element.
// DEVIATION: Caffe's GPU backward pass of legacy_version gives a dissimilar pair -alpha, not
// -alpha * (a - b) as its CPU path does; this twin follows the CPU path.
#include "core/cuda_check.hpp"
#include "layers/contrastive_loss_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// dist_sq[n] = sum_c diff[n, c]^2, in the host's order.
__global__ void RowSquares(int64_t num, int64_t channels, const float* diff, float* dist_sq) {
  AD_CUDA_KERNEL_LOOP(n, num) {
    float s = 0.f;
    for (int64_t c = 0; c < channels; ++c) s += diff[n * channels + c] * diff[n * channels + c];
    dist_sq[n] = s;
  }
}

__global__ void ContrastiveBackward(int64_t count, int64_t channels, float margin, bool legacy,
                                    float alpha, const float* y, const float* diff,
                                    const float* dist_sq, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, count) {
    const int64_t n = i / channels;
    float beta = alpha;
    if (!static_cast<int>(y[n])) {
      float mdist;
      if (legacy) {
        mdist = margin - dist_sq[n];
        beta = -alpha;
      } else {
        const float dist = sqrtf(dist_sq[n]);
        mdist = margin - dist;
        beta = -alpha * mdist / (dist + 1e-4f);
      }
      if (!(mdist > 0.f)) beta = 0.f;
    }
    dx[i] = beta * diff[i];
  }
}

}  // namespace

void ContrastiveLossLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = bottom[0]->count();
  float* d = diff_.mutable_gpu_data();
  gpu_copy(count, bottom[0]->gpu_data(), d);
  gpu_axpy(count, -1.f, bottom[1]->gpu_data(), d);
  RowSquares<<<CudaBlocks(num_), kCudaThreads>>>(num_, channels_, d,
                                                 dist_sq_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  top[0]->mutable_cpu_data()[0] =
      LossFromDistances(num_, dist_sq_.cpu_data(), bottom[2]->cpu_data());
}

void ContrastiveLossLayer::Backward_gpu(const BlobVec& top,
                                        const std::vector<bool>& propagate_down,
                                        const BlobVec& bottom) {
  const int64_t count = bottom[0]->count();
  for (int i = 0; i < 2; ++i) {
    if (!propagate_down[i]) continue;
    const float sign = i == 0 ? 1.f : -1.f;
    const float alpha = sign * top[0]->cpu_diff()[0] / float(num_);
    ContrastiveBackward<<<CudaBlocks(count), kCudaThreads>>>(
        count, channels_, margin_, legacy_version_, alpha, bottom[2]->gpu_data(),
        diff_.gpu_data(), dist_sq_.gpu_data(), bottom[i]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
}

}  // namespace augdrop
