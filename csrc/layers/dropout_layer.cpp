#include "layers/dropout_layer.hpp"

#include <cmath>

#include "core/rng.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

float CheckedDropoutRatio(double ratio, const char* field) {
  AD_CHECK(std::isfinite(ratio) && ratio >= 0 && ratio < 1,
           field << " must be in [0, 1), got " << ratio);
  return static_cast<float>(ratio);
}

float DropoutScale(float ratio) { return static_cast<float>(1. / (1. - ratio)); }

void DrawKeepMask(int64_t count, float ratio, uint32_t* mask) {
  caffe_rng_bernoulli(count, 1. - ratio, mask);
}

void DropoutLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  threshold_ = CheckedDropoutRatio(
      layer_param_.get_message("dropout_param").get_float("dropout_ratio", 0.5),
      "dropout_ratio");
  scale_ = DropoutScale(threshold_);
}

void DropoutLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  top[0]->ReshapeLike(*bottom[0]);
  rand_vec_.Resize(bottom[0]->count());
}

void DropoutLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  if (phase_ != Phase::TRAIN) {
    cpu_copy(n, x, y);
    return;
  }
  uint32_t* mask = rand_vec_.mutable_cpu_data();
  DrawKeepMask(n, threshold_, mask);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * float(mask[i]) * scale_;
}

void DropoutLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  if (phase_ != Phase::TRAIN) {
    cpu_copy(n, dy, dx);
    return;
  }
  const uint32_t* mask = rand_vec_.cpu_data();
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * float(mask[i]) * scale_;
}

}  // namespace augdrop
