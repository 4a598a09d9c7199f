// RNN (Caffe's rnn_layer.cpp), on recurrent_layer.hpp's plumbing. H = num_output:
//   h_t = tanh(W_hh (cont_t h_{t-1}) + W_xh x_t + b_h [+ W_xh_static x_static])
//   o_t = tanh(W_ho h_t + b_o)
// top: o (T, N, H) [, h_T (1, N, H) with expose_hidden; bottom h_0 likewise].
// Params, in Caffe's order: W_xh (H, D), b_h (H,), [W_xh_static (H, D_static)], W_hh (H, H),
// W_ho (H, H), b_o (H,).
#pragma once

#include "layers/recurrent_layer.hpp"

namespace augdrop {

class RNNLayer : public RecurrentLayer {
 public:
  using RecurrentLayer::RecurrentLayer;
  const char* type() const override { return "RNN"; }

 protected:
  int num_recurrent() const override { return 1; }
  void MakeParams() override;
  void ReshapeBuffers() override;
  void ForwardSequence(const SeqOps& ops, const BlobVec& bottom, const BlobVec& top) override;
  void BackwardSequence(const SeqOps& ops, const BlobVec& top,
                        const std::vector<bool>& propagate_down, const BlobVec& bottom) override;

 private:
  int w_hh() const { return static_input_ ? 3 : 2; }  // then W_ho, b_o
  Blob hidden_;   // (T, N, H): h_t; diff: the gradient of h_t, then of its tanh input
  Blob conted_;   // (T, N, H): cont_t h_{t-1}; diff: its gradient
  Blob out_diff_; // (T, N, H) data: the gradient of o_t's tanh input
};

}  // namespace augdrop
