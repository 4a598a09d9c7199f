// AugmentedDropout on the GPU: the formulas of augmented_dropout_layer.cpp, in the same float
// operations, with Dropout's DrawKeepMaskGpu and ApplyKeepMaskGpu (dropout_layer.cu); m_f is
// drawn before m_e.
#include "core/cuda_check.hpp"
#include "layers/augmented_dropout_layer.hpp"
#include "layers/dropout_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// m_b from the variant: forward only (STANDARD), none (FORWARD), extra only (BACKWARD), both
// (AUGMENTED); each mask is float(word) * scale, as on the CPU.
__global__ void BackwardMask(int64_t n, const uint32_t* forward_keep, float forward_scale,
                             const uint32_t* extra_keep, float extra_scale, float* mask) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float f = forward_keep ? float(forward_keep[i]) * forward_scale : 1.f;
    mask[i] = extra_keep ? (forward_keep ? f * (float(extra_keep[i]) * extra_scale)
                                         : float(extra_keep[i]) * extra_scale)
                         : f;
  }
}

}  // namespace

void AugmentedDropoutLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  const float* x = bottom[0]->gpu_data();
  if (phase_ != Phase::TRAIN) {
    gpu_copy(n, x, top[0]->mutable_gpu_data());
    return;
  }
  if (RewritesTop()) {
    input_copy_.ReshapeLike(*bottom[0]);
    gpu_copy(n, x, input_copy_.mutable_gpu_data());
  }
  const bool uses_forward_mask = variant_ != Variant::BACKWARD;
  const bool uses_extra_mask = variant_ == Variant::BACKWARD || variant_ == Variant::AUGMENTED;
  float* y = top[0]->mutable_gpu_data();
  if (uses_forward_mask) {
    DrawKeepMaskGpu(n, forward_ratio_, &forward_keep_);
    ApplyKeepMaskGpu(n, x, forward_keep_, forward_scale_, y);
  } else {
    gpu_copy(n, x, y);
  }
  if (uses_extra_mask) DrawKeepMaskGpu(n, backward_ratio_, &extra_keep_);
  backward_mask_.Reshape({n});
  // FORWARD: m_b = 1, although m_f was drawn and applied.
  const bool backward_uses_forward_mask =
      variant_ == Variant::STANDARD || variant_ == Variant::AUGMENTED;
  BackwardMask<<<CudaBlocks(n), kCudaThreads>>>(
      n, backward_uses_forward_mask ? forward_keep_.gpu_data() : nullptr, forward_scale_,
      uses_extra_mask ? extra_keep_.gpu_data() : nullptr, backward_scale_,
      backward_mask_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  forward_done_ = true;
}

void AugmentedDropoutLayer::PrepareBackward_gpu(const BlobVec& top) {
  gpu_mul(top[0]->count(), input_copy_.gpu_data(), backward_mask_.gpu_data(),
          top[0]->mutable_gpu_data());
}

void AugmentedDropoutLayer::Backward_gpu(const BlobVec& top,
                                         const std::vector<bool>& propagate_down,
                                         const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  if (phase_ != Phase::TRAIN) {
    gpu_copy(n, top[0]->gpu_diff(), bottom[0]->mutable_gpu_diff());
    return;
  }
  AD_CHECK(backward_mask_.count() == n, "Backward before a TRAIN forward pass");
  gpu_mul(n, top[0]->gpu_diff(), backward_mask_.gpu_data(), bottom[0]->mutable_gpu_diff());
}

}  // namespace augdrop
