#include "layers/augmented_dropout_layer.hpp"

#include "core/mode.hpp"
#include "layers/dropout_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void AugmentedDropoutLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("augmented_dropout_param");
  const std::string variant = p.get_string("variant", "AUGMENTED");
  if (variant == "STANDARD") {
    variant_ = Variant::STANDARD;
  } else if (variant == "FORWARD") {
    variant_ = Variant::FORWARD;
  } else if (variant == "BACKWARD") {
    variant_ = Variant::BACKWARD;
  } else if (variant == "AUGMENTED") {
    variant_ = Variant::AUGMENTED;
  } else {
    AD_FAIL("unknown AugmentedDropout variant '" << variant
                                                 << "' (STANDARD, FORWARD, BACKWARD, AUGMENTED)");
  }
  forward_ratio_ = CheckedDropoutRatio(p.get_float("forward_ratio", 0.5), "forward_ratio");
  backward_ratio_ = CheckedDropoutRatio(p.get_float("backward_ratio", 0.0), "backward_ratio");
  forward_scale_ = DropoutScale(forward_ratio_);
  backward_scale_ = DropoutScale(backward_ratio_);
  mask_backward_features_ = p.get_bool("mask_backward_features", true);
}

void AugmentedDropoutLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  top[0]->ReshapeLike(*bottom[0]);
}

bool AugmentedDropoutLayer::RewritesTop() const {
  return phase_ == Phase::TRAIN && mask_backward_features_ && variant_ != Variant::STANDARD;
}

void AugmentedDropoutLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  if (phase_ != Phase::TRAIN) {
    cpu_copy(n, x, y);
    return;
  }
  if (RewritesTop()) {
    input_copy_.ReshapeLike(*bottom[0]);
    cpu_copy(n, x, input_copy_.mutable_cpu_data());
  }
  word_mask_.resize(n);
  backward_mask_.resize(n);
  const bool uses_forward_mask = variant_ != Variant::BACKWARD;
  const bool uses_extra_mask = variant_ == Variant::BACKWARD || variant_ == Variant::AUGMENTED;
  if (uses_forward_mask) {
    forward_mask_.resize(n);
    DrawKeepMask(n, forward_ratio_, word_mask_.data());
    for (int64_t i = 0; i < n; ++i) forward_mask_[i] = float(word_mask_[i]) * forward_scale_;
    // Multiply as Caffe's Dropout does, x * mask * scale, so STANDARD matches it bit for bit.
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * float(word_mask_[i]) * forward_scale_;
  } else {
    forward_mask_.clear();
    cpu_copy(n, x, y);
  }
  switch (variant_) {
    case Variant::STANDARD:
      backward_mask_ = forward_mask_;
      break;
    case Variant::FORWARD:
      std::fill(backward_mask_.begin(), backward_mask_.end(), 1.f);
      break;
    case Variant::BACKWARD:
    case Variant::AUGMENTED:
      break;
  }
  if (uses_extra_mask) {
    DrawKeepMask(n, backward_ratio_, word_mask_.data());
    for (int64_t i = 0; i < n; ++i) {
      const float extra = float(word_mask_[i]) * backward_scale_;
      backward_mask_[i] = uses_forward_mask ? forward_mask_[i] * extra : extra;
    }
  }
  forward_done_ = true;
}

void AugmentedDropoutLayer::PrepareBackward(const BlobVec& bottom, const BlobVec& top) {
  if (!RewritesTop() || !forward_done_) return;
#ifdef AUGDROP_WITH_CUDA
  if (GetMode() == Mode::GPU) {
    PrepareBackward_gpu(top);
    return;
  }
#endif
  const int64_t n = top[0]->count();
  AD_CHECK(input_copy_.count() == n && int64_t(backward_mask_.size()) == n,
           "backward features requested before a forward pass of the current shape");
  const float* x = input_copy_.cpu_data();
  float* y = top[0]->mutable_cpu_data();
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * backward_mask_[i];
}

void AugmentedDropoutLayer::Backward_cpu(const BlobVec& top,
                                         const std::vector<bool>& propagate_down,
                                         const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  if (phase_ != Phase::TRAIN) {
    cpu_copy(n, dy, dx);
    return;
  }
  AD_CHECK(int64_t(backward_mask_.size()) == n, "Backward before a TRAIN forward pass");
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * backward_mask_[i];
}

}  // namespace augdrop
