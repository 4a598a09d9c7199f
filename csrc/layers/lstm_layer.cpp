#include "layers/lstm_layer.hpp"

namespace augdrop {

void LSTMLayer::MakeParams() {
  AddParam({4 * H_, D_}, false);  // W_xc
  AddParam({4 * H_}, true);       // b_c
  if (static_input_) AddParam({4 * H_, Ds_}, false);  // W_xc_static
  AddParam({4 * H_, H_}, false);  // W_hc
}

void LSTMLayer::ReshapeBuffers() {
  gates_.Reshape({T_, N_, 4 * H_});
  cells_.Reshape({T_, N_, H_});
  conted_.Reshape({T_, N_, H_});
  h_diff_.Reshape({T_, N_, H_});
  c0_diff_.Reshape({N_, H_});
  static_sum_.Reshape({N_, 4 * H_});
}

void LSTMLayer::ForwardSequence(const SeqOps& ops, const BlobVec& bottom, const BlobVec& top) {
  const int64_t NH = N_ * H_, NG = N_ * 4 * H_;
  const bool exposed = expose_hidden();
  float* X = ops.mutable_data(&gates_);
  float* c = ops.mutable_data(&cells_);
  float* hc = ops.mutable_data(&conted_);
  float* h = ops.mutable_data(top[0]);
  const float* cont = ops.data(bottom[1]);
  const float* W_hc = ops.data(blobs_[hidden_weights()].get());
  ops.set(NH, 0.f, ops.mutable_data(&zero_state_));
  const float* zero = ops.data(&zero_state_);
  const float* h0 = exposed ? ops.data(bottom[hidden_bottom(0)]) : zero;
  const float* c0 = exposed ? ops.data(bottom[hidden_bottom(1)]) : zero;
  InputForward(ops, *bottom[0], 0, 1, X);  // W_xc x_t + b_c for every t
  const float* s = nullptr;
  if (static_input_) {
    InputForward(ops, *bottom[2], 2, -1, ops.mutable_data(&static_sum_));
    s = ops.data(&static_sum_);
  }
  for (int64_t t = 0; t < T_; ++t) {
    ops.scale_rows(N_, H_, cont + t * N_, t == 0 ? h0 : h + (t - 1) * NH, hc + t * NH, false);
    // X_t += (cont_t h_{t-1}) W_hc^T
    ops.gemm(Trans::No, Trans::Yes, N_, 4 * H_, H_, 1.f, hc + t * NH, W_hc, 1.f, X + t * NG);
    if (s) ops.axpy(NG, 1.f, s, X + t * NG);
    ops.lstm_unit_forward(N_, H_, t == 0 ? c0 : c + (t - 1) * NH, X + t * NG, cont + t * N_,
                          c + t * NH, h + t * NH);
  }
  if (exposed && T_ > 0) {
    ops.copy(NH, h + (T_ - 1) * NH, ops.mutable_data(top[hidden_top(0)]));
    ops.copy(NH, c + (T_ - 1) * NH, ops.mutable_data(top[hidden_top(1)]));
  }
}

void LSTMLayer::BackwardSequence(const SeqOps& ops, const BlobVec& top,
                                 const std::vector<bool>& propagate_down, const BlobVec& bottom) {
  const int64_t NH = N_ * H_, NG = N_ * 4 * H_;
  const bool exposed = expose_hidden();
  if (T_ == 0) return;
  const float* X = ops.data(&gates_);
  const float* c = ops.data(&cells_);
  const float* hc = ops.data(&conted_);
  const float* cont = ops.data(bottom[1]);
  const float* W_hc = ops.data(blobs_[hidden_weights()].get());
  const float* zero = ops.data(&zero_state_);
  const float* c0 = exposed ? ops.data(bottom[hidden_bottom(1)]) : zero;
  float* dX = ops.mutable_diff(&gates_);
  float* dc = ops.mutable_diff(&cells_);
  float* dhc = ops.mutable_diff(&conted_);
  float* dh = ops.mutable_data(&h_diff_);
  ops.copy(T_ * NH, ops.diff(top[0]), dh);
  float* dc_last = dc + (T_ - 1) * NH;
  if (exposed) {
    ops.axpy(NH, 1.f, ops.diff(top[hidden_top(0)]), dh + (T_ - 1) * NH);
    ops.copy(NH, ops.diff(top[hidden_top(1)]), dc_last);
  } else {
    ops.set(NH, 0.f, dc_last);
  }
  const bool h0_grad = exposed && propagate_down[hidden_bottom(0)];
  const bool c0_grad = exposed && propagate_down[hidden_bottom(1)];
  float* dc0 = c0_grad ? ops.mutable_diff(bottom[hidden_bottom(1)]) : ops.mutable_data(&c0_diff_);
  for (int64_t t = T_ - 1; t >= 0; --t) {
    ops.lstm_unit_backward(N_, H_, t == 0 ? c0 : c + (t - 1) * NH, X + t * NG, cont + t * N_,
                           c + t * NH, dc + t * NH, dh + t * NH,
                           t == 0 ? dc0 : dc + (t - 1) * NH, dX + t * NG);
    // the gradient of cont_t h_{t-1}, and through the Scale by cont to h_{t-1}
    ops.gemm(Trans::No, Trans::No, N_, H_, 4 * H_, 1.f, dX + t * NG, W_hc, 0.f, dhc + t * NH);
    if (t > 0) {
      ops.scale_rows(N_, H_, cont + t * N_, dhc + t * NH, dh + (t - 1) * NH, true);
    } else if (h0_grad) {
      ops.scale_rows(N_, H_, cont, dhc, ops.mutable_diff(bottom[hidden_bottom(0)]), false);
    }
  }
  const int w_hc = hidden_weights();
  if (param_propagate_down(w_hc))  // dW_hc += dX^T (4H, T N) (cont h_{t-1}) (T N, H)
    ops.gemm(Trans::Yes, Trans::No, 4 * H_, H_, T_ * N_, 1.f, dX, hc, 1.f,
             ops.mutable_diff(blobs_[w_hc].get()));
  InputBackward(ops, dX, *bottom[0], 0, 1, propagate_down[0] ? bottom[0] : nullptr);
  if (static_input_) {
    float* ds = ops.mutable_diff(&static_sum_);
    ops.copy(NG, dX, ds);
    for (int64_t t = 1; t < T_; ++t) ops.axpy(NG, 1.f, dX + t * NG, ds);
    InputBackward(ops, ops.diff(&static_sum_), *bottom[2], 2, -1,
                  propagate_down[2] ? bottom[2] : nullptr);
  }
}

}  // namespace augdrop
