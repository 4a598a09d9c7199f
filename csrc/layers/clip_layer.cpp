#include "layers/clip_layer.hpp"

#include <algorithm>

namespace augdrop {

void ClipLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("clip_param");
  AD_CHECK(p.has("min") && p.has("max"),
           "Clip layer needs clip_param { min: ... max: ... } (both are required fields)");
  min_ = float(p.get_float("min", 0));
  max_ = float(p.get_float("max", 0));
}

void ClipLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  const float lo = min_, hi = max_;
  for (int64_t i = 0; i < n; ++i) y[i] = std::max(lo, std::min(x[i], hi));
}

void ClipLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* x = bottom[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  const float lo = min_, hi = max_;
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (x[i] >= lo && x[i] <= hi);
}

}  // namespace augdrop
