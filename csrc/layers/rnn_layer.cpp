#include "layers/rnn_layer.hpp"

namespace augdrop {

void RNNLayer::MakeParams() {
  AddParam({H_, D_}, false);                        // W_xh
  AddParam({H_}, true);                             // b_h
  if (static_input_) AddParam({H_, Ds_}, false);    // W_xh_static
  AddParam({H_, H_}, false);                        // W_hh
  AddParam({H_, H_}, false);                        // W_ho
  AddParam({H_}, true);                             // b_o
}

void RNNLayer::ReshapeBuffers() {
  hidden_.Reshape({T_, N_, H_});
  conted_.Reshape({T_, N_, H_});
  out_diff_.Reshape({T_, N_, H_});
  static_sum_.Reshape({N_, H_});
}

void RNNLayer::ForwardSequence(const SeqOps& ops, const BlobVec& bottom, const BlobVec& top) {
  const int64_t NH = N_ * H_;
  const bool exposed = expose_hidden();
  float* h = ops.mutable_data(&hidden_);
  float* hc = ops.mutable_data(&conted_);
  const float* cont = ops.data(bottom[1]);
  const float* W_hh = ops.data(blobs_[w_hh()].get());
  ops.set(NH, 0.f, ops.mutable_data(&zero_state_));
  const float* h0 = exposed ? ops.data(bottom[hidden_bottom(0)]) : ops.data(&zero_state_);
  InputForward(ops, *bottom[0], 0, 1, h);  // W_xh x_t + b_h for every t
  const float* s = nullptr;
  if (static_input_) {
    InputForward(ops, *bottom[2], 2, -1, ops.mutable_data(&static_sum_));
    s = ops.data(&static_sum_);
  }
  for (int64_t t = 0; t < T_; ++t) {
    ops.scale_rows(N_, H_, cont + t * N_, t == 0 ? h0 : h + (t - 1) * NH, hc + t * NH, false);
    ops.gemm(Trans::No, Trans::Yes, N_, H_, H_, 1.f, hc + t * NH, W_hh, 1.f, h + t * NH);
    if (s) ops.axpy(NH, 1.f, s, h + t * NH);
    ops.tanh_forward(NH, h + t * NH, h + t * NH);
  }
  float* o = ops.mutable_data(top[0]);
  InputForward(ops, hidden_, w_hh() + 1, w_hh() + 2, o);  // W_ho h_t + b_o
  ops.tanh_forward(T_ * NH, o, o);
  if (exposed && T_ > 0) ops.copy(NH, h + (T_ - 1) * NH, ops.mutable_data(top[hidden_top(0)]));
}

void RNNLayer::BackwardSequence(const SeqOps& ops, const BlobVec& top,
                                const std::vector<bool>& propagate_down, const BlobVec& bottom) {
  const int64_t NH = N_ * H_;
  const bool exposed = expose_hidden();
  if (T_ == 0) return;
  const float* h = ops.data(&hidden_);
  const float* cont = ops.data(bottom[1]);
  const float* W_hh = ops.data(blobs_[w_hh()].get());
  float* dzo = ops.mutable_data(&out_diff_);
  ops.tanh_backward(T_ * NH, ops.data(top[0]), ops.diff(top[0]), dzo);
  // dW_ho, db_o, and dh = dzo W_ho
  InputBackward(ops, dzo, hidden_, w_hh() + 1, w_hh() + 2, &hidden_);
  float* dh = ops.mutable_diff(&hidden_);
  float* dhc = ops.mutable_diff(&conted_);
  if (exposed) ops.axpy(NH, 1.f, ops.diff(top[hidden_top(0)]), dh + (T_ - 1) * NH);
  for (int64_t t = T_ - 1; t >= 0; --t) {
    ops.tanh_backward(NH, h + t * NH, dh + t * NH, dh + t * NH);  // now the tanh input's
    ops.gemm(Trans::No, Trans::No, N_, H_, H_, 1.f, dh + t * NH, W_hh, 0.f, dhc + t * NH);
    if (t > 0) {
      ops.scale_rows(N_, H_, cont + t * N_, dhc + t * NH, dh + (t - 1) * NH, true);
    } else if (exposed && propagate_down[hidden_bottom(0)]) {
      ops.scale_rows(N_, H_, cont, dhc, ops.mutable_diff(bottom[hidden_bottom(0)]), false);
    }
  }
  if (param_propagate_down(w_hh()))
    ops.gemm(Trans::Yes, Trans::No, H_, H_, T_ * N_, 1.f, dh, ops.data(&conted_), 1.f,
             ops.mutable_diff(blobs_[w_hh()].get()));
  InputBackward(ops, dh, *bottom[0], 0, 1, propagate_down[0] ? bottom[0] : nullptr);
  if (static_input_) {
    float* ds = ops.mutable_diff(&static_sum_);
    ops.copy(NH, dh, ds);
    for (int64_t t = 1; t < T_; ++t) ops.axpy(NH, 1.f, dh + t * NH, ds);
    InputBackward(ops, ops.diff(&static_sum_), *bottom[2], 2, -1,
                  propagate_down[2] ? bottom[2] : nullptr);
  }
}

}  // namespace augdrop
