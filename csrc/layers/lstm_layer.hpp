// LSTM (Caffe's lstm_layer.cpp), on recurrent_layer.hpp's plumbing. H = num_output, G = 4H:
//   X_t = W_hc (cont_t h_{t-1}) + W_xc x_t + b_c [+ W_xc_static x_static]    (N, 4H)
//   c_t, h_t = LSTMUnit(c_{t-1}, X_t, cont_t)                               (lstm_unit_layer.hpp)
// top: h (T, N, H) [, h_T, c_T (1, N, H) with expose_hidden; bottoms h_0, c_0 likewise].
// Params, in Caffe's order: W_xc (4H, D), b_c (4H,), [W_xc_static (4H, D_static)], W_hc (4H, H).
#pragma once

#include "layers/recurrent_layer.hpp"

namespace augdrop {

class LSTMLayer : public RecurrentLayer {
 public:
  using RecurrentLayer::RecurrentLayer;
  const char* type() const override { return "LSTM"; }

 protected:
  int num_recurrent() const override { return 2; }
  void MakeParams() override;
  void ReshapeBuffers() override;
  void ForwardSequence(const SeqOps& ops, const BlobVec& bottom, const BlobVec& top) override;
  void BackwardSequence(const SeqOps& ops, const BlobVec& top,
                        const std::vector<bool>& propagate_down, const BlobVec& bottom) override;

 private:
  int hidden_weights() const { return static_input_ ? 3 : 2; }  // W_hc's index
  Blob gates_;    // (T, N, 4H): X_t; diff: dX_t
  Blob cells_;    // (T, N, H): c_t; diff: dc_t
  Blob conted_;   // (T, N, H): cont_t h_{t-1}; diff: its gradient
  Blob h_diff_;   // (T, N, H) data: the gradient reaching h_t
  Blob c0_diff_;  // (N, H): dc_0 where no bottom takes it
};

}  // namespace augdrop
