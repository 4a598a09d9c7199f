#include "layers/relu_layer.hpp"

#include <algorithm>

#include "core/parallel.hpp"

namespace augdrop {

void ReLULayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  negative_slope_ = float(layer_param_.get_message("relu_param").get_float("negative_slope", 0));
}

void ReLULayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  const float slope = negative_slope_;
  ForEachBlock(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = std::max(x[i], 0.f) + slope * std::min(x[i], 0.f);
  });
}

namespace {

// dx[i] = dy[i] * (positive, non_positive or unordered by the sign of x[i]), by selects. Its
// own function: written inline in the block lambda, GCC compiled the select as branches again
// (ReLU backward 4 -> 55 ms on ResNet-20).
void SelectFactors(int64_t n, const float* x, const float* dy, float* dx, float positive,
                   float non_positive, float unordered) {
#pragma GCC ivdep
  for (int64_t i = 0; i < n; ++i)
    dx[i] = dy[i] * (x[i] > 0 ? positive : (x[i] <= 0 ? non_positive : unordered));
}

}  // namespace

void ReLULayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* x = bottom[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  const float slope = negative_slope_;
  // Caffe's factor (x > 0) + slope * (x <= 0) takes one of three values, computed once here
  // as Caffe's formula computes them, then selected per element without a branch: a branch on
  // the sign of x mispredicts half the time (13 ms against 0.7 ms on ResNet-20's 2M-element
  // blobs). In place, dx and dy are the same array, read before written at each index (ivdep).
  const float positive = 1.f + slope * 0.f, non_positive = 0.f + slope * 1.f,
              unordered = 0.f + slope * 0.f;  // x is NaN: both comparisons false
  ForEachBlock(n, [&](int64_t begin, int64_t end) {
    SelectFactors(end - begin, x + begin, dy + begin, dx + begin, positive, non_positive,
                  unordered);
  });
}

}  // namespace augdrop
