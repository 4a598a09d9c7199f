#include "layers/power_layer.hpp"

#include <cmath>

namespace augdrop {

void PowerLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("power_param");
  power_ = float(p.get_float("power", 1));
  scale_ = float(p.get_float("scale", 1));
  shift_ = float(p.get_float("shift", 0));
  diff_scale_ = power_ * scale_;
}

void PowerLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  const float power = power_, scale = scale_, shift = shift_;
  if (diff_scale_ == 0) {  // y does not depend on x
    const float value = power == 0 ? 1.f : std::pow(shift, power);
    for (int64_t i = 0; i < n; ++i) y[i] = value;
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float v = scale * x[i] + shift;
    y[i] = power == 1 ? v : std::pow(v, power);
  }
}

void PowerLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* x = bottom[0]->cpu_data();
  const float* y = top[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  const float power = power_, scale = scale_, shift = shift_, ds = diff_scale_;
  if (ds == 0 || power == 1) {
    for (int64_t i = 0; i < n; ++i) dx[i] = ds == 0 ? 0.f : ds * dy[i];
  } else if (power == 2) {
    for (int64_t i = 0; i < n; ++i) dx[i] = (ds * scale * x[i] + ds * shift) * dy[i];
  } else if (shift == 0) {
    for (int64_t i = 0; i < n; ++i) dx[i] = (y[i] / x[i] * power) * dy[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dx[i] = (y[i] / (scale * x[i] + shift) * ds) * dy[i];
  }
}

}  // namespace augdrop
