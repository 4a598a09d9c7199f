// MultinomialLogisticLoss on the GPU: the same formulas as the .cpp (Caffe has no GPU code for
// this layer; its GPU mode runs the CPU path). Labels are checked on the host; the N terms are
// summed by one thread in the host's order.
#include "core/cuda_check.hpp"
#include "layers/multinomial_logistic_loss_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

__global__ void MLLSum(int64_t num, int64_t dim, const float* p, const float* label,
                       float* out) {
  float loss = 0.f;
  for (int64_t n = 0; n < num; ++n) {
    const float v = p[n * dim + static_cast<int>(label[n])];
    loss -= logf(v < 1e-20f ? 1e-20f : v);  // std::max(v, 1e-20f): NaN stays NaN
  }
  out[0] = loss;
}

__global__ void MLLBackward(int64_t num, int64_t dim, const float* p, const float* label,
                            float scale, float* dp) {
  AD_CUDA_KERNEL_LOOP(n, num) {
    const int64_t i = n * dim + static_cast<int>(label[n]);
    dp[i] = scale / (p[i] < 1e-20f ? 1e-20f : p[i]);
  }
}

}  // namespace

void MultinomialLogisticLossLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  CheckLabels(bottom[1]->cpu_data());
  loss_sum_.Reshape({1});
  MLLSum<<<1, 1>>>(num_, dim_, bottom[0]->gpu_data(), bottom[1]->gpu_data(),
                   loss_sum_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  top[0]->mutable_cpu_data()[0] = loss_sum_.cpu_data()[0] / float(num_);
}

void MultinomialLogisticLossLayer::Backward_gpu(const BlobVec& top,
                                                const std::vector<bool>& propagate_down,
                                                const BlobVec& bottom) {
  CheckNoLabelGradient(propagate_down);
  if (!propagate_down[0]) return;
  float* dp = bottom[0]->mutable_gpu_diff();
  gpu_set(bottom[0]->count(), 0.f, dp);
  MLLBackward<<<CudaBlocks(num_), kCudaThreads>>>(num_, dim_, bottom[0]->gpu_data(),
                                                  bottom[1]->gpu_data(),
                                                  -top[0]->cpu_diff()[0] / float(num_), dp);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
