// LSTMUnit (Caffe's lstm_unit_layer.cpp): one LSTM step for N streams of hidden size H.
// bottom: c_prev (1, N, H), X (1, N, 4H) the gate inputs [i, f, o, g], cont (1, N);
// top: c (1, N, H), h (1, N, H).
//   i = sigmoid(X_i), f = cont * sigmoid(X_f) (0 where cont == 0), o = sigmoid(X_o),
//   g = tanh(X_g), c = f c_prev + i g, h = o tanh(c).
// Backward follows Caffe's formulas (its f-gradient c_prev f (1 - f) is exact where cont is
// 0 or 1); no gradient to cont.
#pragma once

#include <cstdint>

#include "layers/layer.hpp"

namespace augdrop {

// One step for n streams (also LSTM's, lstm_layer.cpp). c_prev, c, h, c_diff, h_diff,
// c_prev_diff: (n, H); X, X_diff: (n, 4H); cont: (n,).
void lstm_unit_forward_cpu(int64_t n, int64_t H, const float* c_prev, const float* X,
                           const float* cont, float* c, float* h);
void lstm_unit_backward_cpu(int64_t n, int64_t H, const float* c_prev, const float* X,
                            const float* cont, const float* c, const float* c_diff,
                            const float* h_diff, float* c_prev_diff, float* X_diff);
#ifdef AUGDROP_WITH_CUDA
void lstm_unit_forward_gpu(int64_t n, int64_t H, const float* c_prev, const float* X,
                           const float* cont, float* c, float* h);
void lstm_unit_backward_gpu(int64_t n, int64_t H, const float* c_prev, const float* X,
                            const float* cont, const float* c, const float* c_diff,
                            const float* h_diff, float* c_prev_diff, float* X_diff);
#endif

class LSTMUnitLayer : public Layer {
 public:
  using Layer::Layer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "LSTMUnit"; }
  int ExactNumBottomBlobs() const override { return 3; }
  int ExactNumTopBlobs() const override { return 2; }
  bool AllowForceBackward(int bottom_index) const override { return bottom_index != 2; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif

 private:
  int64_t hidden_ = 0;
  Blob scratch_;  // the bottom diff not asked for (Caffe computes both diffs together)
};

}  // namespace augdrop
