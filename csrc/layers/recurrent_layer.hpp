// The recurrent layers' shared plumbing (Caffe's recurrent_layer.cpp): RNN and LSTM read
// recurrent_param (num_output, weight_filler, bias_filler, expose_hidden), take
//   bottom: x (T, N, ...), cont (T, N) (0 starts a new sequence in stream n at step t),
//           optionally a static input x_static (N, ...) added at every step, and with
//           expose_hidden the initial hidden state(s) (1, N, H) (RNN: h_0; LSTM: h_0, c_0);
//   top:    the outputs (T, N, H), and with expose_hidden the final state(s) (1, N, H).
// The hidden state entering step t is cont_t * h_{t-1} (Caffe's Scale by cont); without
// expose_hidden the initial states are 0. No gradient goes to cont.
// DEVIATION: Caffe runs these as an unrolled internal Net of InnerProduct, Slice, Scale,
// Eltwise, TanH / LSTMUnit and Concat layers; here the same formulas are computed directly,
// step by step, with the weights in Caffe's order and shapes (the products summed in another
// order, so the last float bits can differ). A SeqOps picks the host or the device for each
// primitive, so that one sequence code serves Forward_cpu and Forward_gpu.
#pragma once

#include <string>
#include <vector>

#include "layers/layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

// The primitives of the recurrent sequences, on the host (gpu = false) or on the device
// (recurrent_layer.cu), with the blobs' matching pointers.
class SeqOps {
 public:
  explicit SeqOps(bool gpu) : gpu_(gpu) {}
  const float* data(const Blob* b) const;
  const float* diff(const Blob* b) const;
  float* mutable_data(Blob* b) const;
  float* mutable_diff(Blob* b) const;
  void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
            const float* B, float beta, float* C) const;
  void axpy(int64_t n, float alpha, const float* x, float* y) const;
  void copy(int64_t n, const float* x, float* y) const;
  void set(int64_t n, float value, float* x) const;
  // y (rows, width) = (add ? y : 0) + cont[r] * x[r, :]
  void scale_rows(int64_t rows, int64_t width, const float* cont, const float* x, float* y,
                  bool add) const;
  // y (rows, width) += bias (width,) on every row
  void add_bias(int64_t rows, int64_t width, const float* bias, float* y) const;
  // out (width,) += the column sums of x (rows, width)
  void column_sums_add(int64_t rows, int64_t width, const float* x, float* out) const;
  void tanh_forward(int64_t n, const float* x, float* y) const;  // y = tanh(x)
  // dx = dy (1 - y^2)
  void tanh_backward(int64_t n, const float* y, const float* dy, float* dx) const;
  void lstm_unit_forward(int64_t n, int64_t H, const float* c_prev, const float* X,
                         const float* cont, float* c, float* h) const;
  void lstm_unit_backward(int64_t n, int64_t H, const float* c_prev, const float* X,
                          const float* cont, const float* c, const float* c_diff,
                          const float* h_diff, float* c_prev_diff, float* X_diff) const;

 private:
  bool gpu_;
};

#ifdef AUGDROP_WITH_CUDA
// SeqOps' device kernels (recurrent_layer.cu).
void gpu_scale_rows(int64_t rows, int64_t width, const float* cont, const float* x, float* y,
                    bool add);
void gpu_add_bias(int64_t rows, int64_t width, const float* bias, float* y);
void gpu_column_sums_add(int64_t rows, int64_t width, const float* x, float* out);
void gpu_tanh_forward(int64_t n, const float* x, float* y);
void gpu_tanh_backward(int64_t n, const float* y, const float* dy, float* dx);
#endif

class RecurrentLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  int MinBottomBlobs() const override { return 2 + (expose_hidden() ? num_recurrent() : 0); }
  int MaxBottomBlobs() const override { return MinBottomBlobs() + 1; }
  int ExactNumTopBlobs() const override { return 1 + (expose_hidden() ? num_recurrent() : 0); }
  bool AllowForceBackward(int bottom_index) const override { return bottom_index != 1; }

 protected:
  // The hidden states exposed with expose_hidden: RNN 1 (h), LSTM 2 (h, c).
  virtual int num_recurrent() const = 0;
  // The params, in Caffe's order, once T_, N_, H_, D_, Ds_ are known.
  virtual void MakeParams() = 0;
  // Per-layer buffers for the current T_, N_.
  virtual void ReshapeBuffers() = 0;
  virtual void ForwardSequence(const SeqOps& ops, const BlobVec& bottom, const BlobVec& top) = 0;
  virtual void BackwardSequence(const SeqOps& ops, const BlobVec& top,
                                const std::vector<bool>& propagate_down, const BlobVec& bottom) = 0;

  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif

  bool expose_hidden() const;
  // A param of this shape filled by recurrent_param's weight_filler (or bias_filler).
  void AddParam(const std::vector<int64_t>& shape, bool bias);
  // The exposed initial state i (bottom) and final state i (top).
  int hidden_bottom(int i) const { return 2 + (static_input_ ? 1 : 0) + i; }
  int hidden_top(int i) const { return 1 + i; }

  // out (rows, G) = x (rows, K) W^T (+ b), W = blobs_[w] (G, K), b = blobs_[b] (b < 0: none):
  // the input transform (rows = T N) and the static input's (rows = N). Backward: dW += dout^T
  // x, db += column sums of dout, x_diff = dout W (when not null).
  void InputForward(const SeqOps& ops, const Blob& x, int w, int b, float* out) const;
  void InputBackward(const SeqOps& ops, const float* dout, const Blob& x, int w, int b,
                     Blob* x_diff);

  int64_t T_ = 0, N_ = 0, H_ = 0;
  int64_t D_ = 0, Ds_ = 0;  // x's and x_static's features per stream
  bool static_input_ = false;
  Blob zero_state_;          // (N, H) zeros: the initial states without expose_hidden
  Blob static_sum_;          // (N, G): the static input's part, and its diff summed over t
};

}  // namespace augdrop
