#include "layers/absval_layer.hpp"

#include <cmath>

namespace augdrop {

void AbsValLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(top[0] != bottom[0], "AbsVal layer does not allow in-place computation");
}

void AbsValLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  for (int64_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]);
}

void AbsValLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* x = bottom[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  for (int64_t i = 0; i < n; ++i) dx[i] = float((0.f < x[i]) - (x[i] < 0.f)) * dy[i];
}

}  // namespace augdrop
