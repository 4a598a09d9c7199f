#include "layers/bnll_layer.hpp"

#include <algorithm>
#include <cmath>

namespace augdrop {

void BNLLLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  for (int64_t i = 0; i < n; ++i)
    y[i] = x[i] > 0 ? x[i] + std::log(1.f + std::exp(-x[i])) : std::log(1.f + std::exp(x[i]));
}

void BNLLLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* x = bottom[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp(std::min(x[i], kBNLLThreshold));
    dx[i] = dy[i] * e / (e + 1.f);
  }
}

}  // namespace augdrop
