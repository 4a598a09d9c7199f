#include "layers/exp_layer.hpp"

#include <cmath>

namespace augdrop {

void ExpLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("exp_param");
  const float base = float(p.get_float("base", -1));
  const float scale = float(p.get_float("scale", 1));
  const float shift = float(p.get_float("shift", 0));
  AD_CHECK(base == -1.f || base > 0, "Exp layer: base must be strictly positive or -1 (for e), got "
                                         << base);
  const float log_base = base == -1.f ? 1.f : std::log(base);
  inner_scale_ = log_base * scale;
  outer_scale_ = shift == 0 ? 1.f : (base == -1.f ? std::exp(shift) : std::pow(base, shift));
}

void ExpLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  const float inner = inner_scale_, outer = outer_scale_;
  for (int64_t i = 0; i < n; ++i) y[i] = outer * std::exp(inner * x[i]);
}

void ExpLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* y = top[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  const float inner = inner_scale_;
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * inner;
}

}  // namespace augdrop
