#include "layers/swish_layer.hpp"

#include <cmath>

namespace augdrop {

void SwishLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  beta_ = float(layer_param_.get_message("swish_param").get_float("beta", 1));
}

void SwishLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  NeuronLayer::Reshape(bottom, top);
  sigmoid_.ReshapeLike(*bottom[0]);
}

void SwishLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* s = sigmoid_.mutable_cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  const float beta = beta_;
  for (int64_t i = 0; i < n; ++i) {
    s[i] = 0.5f * std::tanh(0.5f * (beta * x[i])) + 0.5f;  // as SigmoidLayer computes it
    y[i] = x[i] * s[i];
  }
}

void SwishLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* y = top[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  const float* s = sigmoid_.cpu_data();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t n = bottom[0]->count();
  const float beta = beta_;
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (beta * y[i] + s[i] * (1.f - beta * y[i]));
}

}  // namespace augdrop
