// HingeLoss on the GPU: the same formulas as hinge_loss_layer.cpp (Caffe has no GPU code for
// this layer; its GPU mode runs the CPU path). The labels are checked on the host; the sum of
// t (L1) or t^2 (L2) is one block's tree, not the host BLAS's order.
#include "core/cuda_block_sum.cuh"
#include "core/cuda_check.hpp"
#include "layers/hinge_loss_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// t[n, k] = max(0, 1 + x[n, k] * (k == label[n] ? -1 : 1)).
__global__ void HingeMargins(int64_t count, int64_t dim, const float* x, const float* label,
                             float* t) {
  AD_CUDA_KERNEL_LOOP(i, count) {
    const float v = i % dim == static_cast<int>(label[i / dim]) ? -x[i] : x[i];
    const float m = 1.f + v;
    t[i] = m > 0.f ? m : 0.f;
  }
}

// out[0] = sum t (or sum t^2): one block, a fixed order.
__global__ void HingeSum(int64_t count, const float* t, bool square, float* out) {
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) s += square ? t[i] * t[i] : t[i];
  s = BlockSum(s);
  if (threadIdx.x == 0) out[0] = s;
}

// dx = scale * (t flipped at the label), or scale * its sign (L1).
__global__ void HingeBackward(int64_t count, int64_t dim, const float* t, const float* label,
                              bool l2, float scale, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, count) {
    const float s = i % dim == static_cast<int>(label[i / dim]) ? -t[i] : t[i];
    dx[i] = scale * (l2 ? s : float((0.f < s) - (s < 0.f)));
  }
}

}  // namespace

void HingeLossLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  CheckLabels(bottom[1]->cpu_data());
  const int64_t count = num_ * dim_;
  HingeMargins<<<CudaBlocks(count), kCudaThreads>>>(count, dim_, bottom[0]->gpu_data(),
                                                    bottom[1]->gpu_data(),
                                                    margins_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  loss_sum_.Reshape({1});
  HingeSum<<<1, kReduceThreads>>>(count, margins_.gpu_data(), l2_, loss_sum_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  top[0]->mutable_cpu_data()[0] = loss_sum_.cpu_data()[0] / float(num_);
}

void HingeLossLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  CheckNoLabelGradient(propagate_down);
  if (!propagate_down[0]) return;
  const int64_t count = num_ * dim_;
  const float loss_weight = top[0]->cpu_diff()[0];
  const float scale = (l2_ ? loss_weight * 2.f : loss_weight) / float(num_);
  HingeBackward<<<CudaBlocks(count), kCudaThreads>>>(count, dim_, margins_.gpu_data(),
                                                     bottom[1]->gpu_data(), l2_, scale,
                                                     bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
