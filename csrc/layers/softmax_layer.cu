// Softmax on the GPU (Caffe's softmax_layer.cu): the same formulas as softmax_layer.cpp.
// One thread per (outer, inner) position walks that position's channels in the CPU loops'
// order, so the max, the sums and the dot are the same float operations (expf on the device
// may differ from the host's std::exp in the last bit).
#include "core/cuda_check.hpp"
#include "layers/softmax_layer.hpp"

namespace augdrop {
namespace {

// x, y: (outer, C, inner), y may alias x; positions = outer * inner.
__global__ void SoftmaxForward(int64_t positions, int64_t channels, int64_t inner,
                               const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(p, positions) {
    const int64_t offset = (p / inner) * channels * inner + p % inner;
    const float* xp = x + offset;
    float* yp = y + offset;
    // Max from channel 0, as std::max(scale, x): a NaN scale stays, a NaN x is skipped.
    float max_value = xp[0];
    for (int64_t c = 0; c < channels; ++c) {
      const float v = xp[c * inner];
      max_value = max_value < v ? v : max_value;
    }
    float sum = 0.f;
    for (int64_t c = 0; c < channels; ++c) {
      const float e = expf(xp[c * inner] - max_value);
      yp[c * inner] = e;
      sum += e;
    }
    for (int64_t c = 0; c < channels; ++c) yp[c * inner] /= sum;
  }
}

// y, dy, dx: (outer, C, inner), dx may alias dy: dx = (dy - sum_c dy * y) * y.
__global__ void SoftmaxBackward(int64_t positions, int64_t channels, int64_t inner,
                                const float* y, const float* dy, float* dx) {
  AD_CUDA_KERNEL_LOOP(p, positions) {
    const int64_t offset = (p / inner) * channels * inner + p % inner;
    const float* yp = y + offset;
    const float* dyp = dy + offset;
    float* dxp = dx + offset;
    float dot = 0.f;
    for (int64_t c = 0; c < channels; ++c) dot += dyp[c * inner] * yp[c * inner];
    for (int64_t c = 0; c < channels; ++c)
      dxp[c * inner] = (dyp[c * inner] - dot) * yp[c * inner];
  }
}

}  // namespace

void SoftmaxLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  if (bottom[0]->count() == 0) return;
  const int64_t positions = outer_num_ * inner_num_;
  SoftmaxForward<<<CudaBlocks(positions), kCudaThreads>>>(
      positions, channels_, inner_num_, bottom[0]->gpu_data(), top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void SoftmaxLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  if (!propagate_down[0] || bottom[0]->count() == 0) return;
  const int64_t positions = outer_num_ * inner_num_;
  SoftmaxBackward<<<CudaBlocks(positions), kCudaThreads>>>(
      positions, channels_, inner_num_, top[0]->gpu_data(), top[0]->gpu_diff(),
      bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
