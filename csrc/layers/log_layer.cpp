#include "layers/log_layer.hpp"

#include <cmath>

namespace augdrop {

void LogLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("log_param");
  const float base = float(p.get_float("base", -1));
  AD_CHECK(base == -1.f || base > 0, "Log layer: base must be strictly positive or -1 (for e), got "
                                         << base);
  base_scale_ = base == -1.f ? 1.f : 1.f / std::log(base);
  AD_CHECK(std::isfinite(base_scale_), "Log layer: base " << base << " gives 1/ln(base) = "
                                                          << base_scale_);
  input_scale_ = float(p.get_float("scale", 1));
  input_shift_ = float(p.get_float("shift", 0));
  backward_num_scale_ = input_scale_ * base_scale_;
}

void LogLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  const float scale = input_scale_, shift = input_shift_, base_scale = base_scale_;
  for (int64_t i = 0; i < n; ++i) y[i] = std::log(scale * x[i] + shift) * base_scale;
}

void LogLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* x = bottom[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  const float scale = input_scale_, shift = input_shift_, num = backward_num_scale_;
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (num / (scale * x[i] + shift));
}

}  // namespace augdrop
