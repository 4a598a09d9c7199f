#include "layers/lstm_unit_layer.hpp"

#include <cmath>

namespace augdrop {
namespace {

inline float Sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }
inline float Tanh(float x) { return 2.f * Sigmoid(2.f * x) - 1.f; }  // Caffe's own tanh

}  // namespace

void lstm_unit_forward_cpu(int64_t n, int64_t H, const float* c_prev, const float* X,
                           const float* cont, float* c, float* h) {
  for (int64_t s = 0; s < n; ++s) {
    const float* x = X + s * 4 * H;
    for (int64_t d = 0; d < H; ++d) {
      const float i = Sigmoid(x[d]);
      const float f = cont[s] == 0.f ? 0.f : cont[s] * Sigmoid(x[H + d]);
      const float o = Sigmoid(x[2 * H + d]);
      const float g = Tanh(x[3 * H + d]);
      const float cell = f * c_prev[s * H + d] + i * g;
      c[s * H + d] = cell;
      h[s * H + d] = o * Tanh(cell);
    }
  }
}

void lstm_unit_backward_cpu(int64_t n, int64_t H, const float* c_prev, const float* X,
                            const float* cont, const float* c, const float* c_diff,
                            const float* h_diff, float* c_prev_diff, float* X_diff) {
  for (int64_t s = 0; s < n; ++s) {
    const float* x = X + s * 4 * H;
    float* dx = X_diff + s * 4 * H;
    for (int64_t d = 0; d < H; ++d) {
      const int64_t k = s * H + d;
      const float i = Sigmoid(x[d]);
      const float f = cont[s] == 0.f ? 0.f : cont[s] * Sigmoid(x[H + d]);
      const float o = Sigmoid(x[2 * H + d]);
      const float g = Tanh(x[3 * H + d]);
      const float tanh_c = Tanh(c[k]);
      const float dc = c_diff[k] + h_diff[k] * o * (1 - tanh_c * tanh_c);
      c_prev_diff[k] = dc * f;
      dx[d] = dc * g * i * (1 - i);
      dx[H + d] = dc * c_prev[k] * f * (1 - f);
      dx[2 * H + d] = h_diff[k] * tanh_c * o * (1 - o);
      dx[3 * H + d] = dc * i * (1 - g * g);
    }
  }
}

void LSTMUnitLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const int64_t num = bottom[0]->num_axes() > 1 ? bottom[0]->shape(1) : -1;
  for (int i = 0; i < 3; ++i) {
    AD_CHECK(bottom[i]->num_axes() == (i == 2 ? 2 : 3) && bottom[i]->shape(0) == 1 &&
                 bottom[i]->shape(1) == num,
             "bottoms must be c_prev (1, N, H), X (1, N, 4H) and cont (1, N), got "
                 << bottom[0]->shape_string() << ", " << bottom[1]->shape_string() << ", "
                 << bottom[2]->shape_string());
  }
  hidden_ = bottom[0]->shape(2);
  AD_CHECK(bottom[1]->shape(2) == 4 * hidden_,
           "X must have 4 H = " << 4 * hidden_ << " gate inputs, got " << bottom[1]->shape(2));
  top[0]->Reshape(bottom[0]->shape());
  top[1]->Reshape(bottom[0]->shape());
}

void LSTMUnitLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  lstm_unit_forward_cpu(bottom[0]->shape(1), hidden_, bottom[0]->cpu_data(), bottom[1]->cpu_data(),
                        bottom[2]->cpu_data(), top[0]->mutable_cpu_data(), top[1]->mutable_cpu_data());
}

void LSTMUnitLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                 const BlobVec& bottom) {
  AD_CHECK(!propagate_down[2], "cannot backpropagate to the sequence indicators (cont)");
  if (!propagate_down[0] && !propagate_down[1]) return;
  scratch_.Reshape({bottom[1]->count()});
  float* c_prev_diff = propagate_down[0] ? bottom[0]->mutable_cpu_diff() : scratch_.mutable_cpu_data();
  float* x_diff = propagate_down[1] ? bottom[1]->mutable_cpu_diff() : scratch_.mutable_cpu_diff();
  lstm_unit_backward_cpu(bottom[0]->shape(1), hidden_, bottom[0]->cpu_data(), bottom[1]->cpu_data(),
                         bottom[2]->cpu_data(), top[0]->cpu_data(), top[0]->cpu_diff(),
                         top[1]->cpu_diff(), c_prev_diff, x_diff);
}

}  // namespace augdrop
