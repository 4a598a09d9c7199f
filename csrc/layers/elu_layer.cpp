#include "layers/elu_layer.hpp"

#include <algorithm>
#include <cmath>

namespace augdrop {

void ELULayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  alpha_ = float(layer_param_.get_message("elu_param").get_float("alpha", 1));
}

void ELULayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  const float alpha = alpha_;
  for (int64_t i = 0; i < n; ++i)
    y[i] = std::max(x[i], 0.f) + alpha * (std::exp(std::min(x[i], 0.f)) - 1.f);
}

void ELULayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* x = bottom[0]->cpu_data();
  const float* y = top[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  const float alpha = alpha_;
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * ((x[i] > 0) + (alpha + y[i]) * (x[i] <= 0));
}

}  // namespace augdrop
