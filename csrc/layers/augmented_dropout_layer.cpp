#include "layers/augmented_dropout_layer.hpp"

#include "core/mode.hpp"
#include "core/parallel.hpp"
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
    float* copy = input_copy_.mutable_cpu_data();
    ForEachBlock(n, [&](int64_t begin, int64_t end) {
      cpu_copy(end - begin, x + begin, copy + begin);
    });
  }
  // m_f's words first, then m_e's, from the one stream.
  const uint32_t* fk = nullptr;
  const uint32_t* ek = nullptr;
  if (variant_ != Variant::BACKWARD) {
    forward_keep_.Resize(n);
    DrawKeepMask(n, forward_ratio_, forward_keep_.mutable_cpu_data());
    fk = forward_keep_.cpu_data();
  }
  if (variant_ == Variant::BACKWARD || variant_ == Variant::AUGMENTED) {
    extra_keep_.Resize(n);
    DrawKeepMask(n, backward_ratio_, extra_keep_.mutable_cpu_data());
    ek = extra_keep_.cpu_data();
  }
  // One pass over the output and m_b, on the threads. Products as Caffe's Dropout,
  // x * mask * scale, so that STANDARD matches it bit for bit; each mask is
  // float(word) * scale. x may alias y: x[i] is read before y[i] is written.
  backward_mask_.Reshape({n});
  float* mb = backward_mask_.mutable_cpu_data();
  const float fs = forward_scale_, bs = backward_scale_;
  const Variant variant = variant_;
  ForEachBlock(n, [&, fs, bs, variant](int64_t begin, int64_t end) {
    switch (variant) {
      case Variant::STANDARD:
        for (int64_t i = begin; i < end; ++i) {
          y[i] = x[i] * float(fk[i]) * fs;
          mb[i] = float(fk[i]) * fs;
        }
        break;
      case Variant::FORWARD:
        for (int64_t i = begin; i < end; ++i) {
          y[i] = x[i] * float(fk[i]) * fs;
          mb[i] = 1.f;
        }
        break;
      case Variant::BACKWARD:
        if (x != y) cpu_copy(end - begin, x + begin, y + begin);
        for (int64_t i = begin; i < end; ++i) mb[i] = float(ek[i]) * bs;
        break;
      case Variant::AUGMENTED:
        for (int64_t i = begin; i < end; ++i) {
          y[i] = x[i] * float(fk[i]) * fs;
          mb[i] = (float(fk[i]) * fs) * (float(ek[i]) * bs);
        }
        break;
    }
  });
  forward_done_ = true;
}

void AugmentedDropoutLayer::PrepareBackward(const BlobVec& bottom, const BlobVec& top) {
  if (!RewritesTop() || !forward_done_) return;
  const int64_t n = top[0]->count();
  AD_CHECK(input_copy_.count() == n && backward_mask_.count() == n,
           "backward features requested before a forward pass of the current shape");
#ifdef AUGDROP_WITH_CUDA
  if (GetMode() == Mode::GPU) {
    PrepareBackward_gpu(top);
    return;
  }
#endif
  const float* x = input_copy_.cpu_data();
  const float* mb = backward_mask_.cpu_data();
  float* y = top[0]->mutable_cpu_data();
  ForEachBlock(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = x[i] * mb[i];
  });
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
  AD_CHECK(backward_mask_.count() == n, "Backward before a TRAIN forward pass");
  const float* mb = backward_mask_.cpu_data();
  ForEachBlock(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dx[i] = dy[i] * mb[i];
  });
}

}  // namespace augdrop
