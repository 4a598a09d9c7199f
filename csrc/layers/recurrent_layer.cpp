#include "layers/recurrent_layer.hpp"

#include <cmath>

#include "core/filler.hpp"
#include "layers/lstm_unit_layer.hpp"

namespace augdrop {

// ---- SeqOps: the host side here, the device side through recurrent_layer.cu ----

#ifdef AUGDROP_WITH_CUDA
#define AD_SEQ(cpu_call, gpu_call) \
  do {                             \
    if (gpu_) {                    \
      gpu_call;                    \
    } else {                       \
      cpu_call;                    \
    }                              \
  } while (0)
#else
#define AD_SEQ(cpu_call, gpu_call) cpu_call
#endif

const float* SeqOps::data(const Blob* b) const {
  Blob* m = const_cast<Blob*>(b);  // reading a side may sync it (SyncedMemory)
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return m->gpu_data();
#endif
  return m->cpu_data();
}
const float* SeqOps::diff(const Blob* b) const {
  Blob* m = const_cast<Blob*>(b);
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return m->gpu_diff();
#endif
  return m->cpu_diff();
}
float* SeqOps::mutable_data(Blob* b) const {
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return b->mutable_gpu_data();
#endif
  return b->mutable_cpu_data();
}
float* SeqOps::mutable_diff(Blob* b) const {
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return b->mutable_gpu_diff();
#endif
  return b->mutable_cpu_diff();
}

void SeqOps::gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, const float* B, float beta, float* C) const {
  if (M <= 0 || N <= 0) return;
  AD_SEQ(cpu_gemm(ta, tb, M, N, K, alpha, A, B, beta, C),
         gpu_gemm(ta, tb, M, N, K, alpha, A, B, beta, C));
}
void SeqOps::axpy(int64_t n, float alpha, const float* x, float* y) const {
  AD_SEQ(cpu_axpy(n, alpha, x, y), gpu_axpy(n, alpha, x, y));
}
void SeqOps::copy(int64_t n, const float* x, float* y) const {
  AD_SEQ(cpu_copy(n, x, y), gpu_copy(n, x, y));
}
void SeqOps::set(int64_t n, float value, float* x) const {
  AD_SEQ(cpu_set(n, value, x), gpu_set(n, value, x));
}

void SeqOps::scale_rows(int64_t rows, int64_t width, const float* cont, const float* x,
                        float* y, bool add) const {
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return gpu_scale_rows(rows, width, cont, x, y, add);
#endif
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < width; ++j) {
      const float v = cont[r] * x[r * width + j];
      y[r * width + j] = add ? y[r * width + j] + v : v;
    }
}

void SeqOps::add_bias(int64_t rows, int64_t width, const float* bias, float* y) const {
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return gpu_add_bias(rows, width, bias, y);
#endif
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < width; ++j) y[r * width + j] += bias[j];
}

void SeqOps::column_sums_add(int64_t rows, int64_t width, const float* x, float* out) const {
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return gpu_column_sums_add(rows, width, x, out);
#endif
  for (int64_t j = 0; j < width; ++j) {
    float s = 0;
    for (int64_t r = 0; r < rows; ++r) s += x[r * width + j];
    out[j] += s;
  }
}

void SeqOps::tanh_forward(int64_t n, const float* x, float* y) const {
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return gpu_tanh_forward(n, x, y);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void SeqOps::tanh_backward(int64_t n, const float* y, const float* dy, float* dx) const {
#ifdef AUGDROP_WITH_CUDA
  if (gpu_) return gpu_tanh_backward(n, y, dy, dx);
#endif
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1 - y[i] * y[i]);
}

void SeqOps::lstm_unit_forward(int64_t n, int64_t H, const float* c_prev, const float* X,
                               const float* cont, float* c, float* h) const {
  AD_SEQ(lstm_unit_forward_cpu(n, H, c_prev, X, cont, c, h),
         lstm_unit_forward_gpu(n, H, c_prev, X, cont, c, h));
}

void SeqOps::lstm_unit_backward(int64_t n, int64_t H, const float* c_prev, const float* X,
                                const float* cont, const float* c, const float* c_diff,
                                const float* h_diff, float* c_prev_diff, float* X_diff) const {
  AD_SEQ(lstm_unit_backward_cpu(n, H, c_prev, X, cont, c, c_diff, h_diff, c_prev_diff, X_diff),
         lstm_unit_backward_gpu(n, H, c_prev, X, cont, c, c_diff, h_diff, c_prev_diff, X_diff));
}

#undef AD_SEQ

// ---- RecurrentLayer ----

bool RecurrentLayer::expose_hidden() const {
  return layer_param_.get_message("recurrent_param").get_bool("expose_hidden", false);
}

void RecurrentLayer::AddParam(const std::vector<int64_t>& shape, bool bias) {
  const Params& p = layer_param_.get_message("recurrent_param");
  blobs_.push_back(std::make_shared<Blob>(shape));
  FillBlob(p.get_message(bias ? "bias_filler" : "weight_filler"), blobs_.back().get());
}

void RecurrentLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("recurrent_param");
  H_ = p.get_int("num_output", 0);
  AD_CHECK(H_ > 0, "recurrent_param.num_output must be positive");
  AD_CHECK(bottom[0]->num_axes() >= 2,
           "bottom[0] must have at least 2 axes (timesteps, streams, ...), got "
               << bottom[0]->shape_string());
  T_ = bottom[0]->shape(0);
  N_ = bottom[0]->shape(1);
  D_ = bottom[0]->count(2);
  static_input_ = int(bottom.size()) > 2 + (expose_hidden() ? num_recurrent() : 0);
  if (static_input_) {
    AD_CHECK(bottom[2]->num_axes() >= 1 && bottom[2]->shape(0) == N_,
             "the static input must be (N, ...) with N = " << N_ << ", got "
                                                           << bottom[2]->shape_string());
    Ds_ = bottom[2]->count(1);
  }
  blobs_.clear();
  MakeParams();
  param_propagate_down_.assign(blobs_.size(), true);
}

void RecurrentLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->num_axes() >= 2 && bottom[0]->count(2) == D_,
           "bottom[0] must be (T, N, ...) with " << D_ << " features per stream, got "
                                                 << bottom[0]->shape_string());
  T_ = bottom[0]->shape(0);
  N_ = bottom[0]->shape(1);
  AD_CHECK(bottom[1]->num_axes() == 2 && bottom[1]->shape(0) == T_ && bottom[1]->shape(1) == N_,
           "cont must be (T, N) = (" << T_ << ", " << N_ << "), got " << bottom[1]->shape_string());
  if (static_input_) {
    AD_CHECK(bottom[2]->shape(0) == N_ && bottom[2]->count(1) == Ds_,
             "the static input must be (N, ...) with N = " << N_ << " and " << Ds_
                                                           << " features, got "
                                                           << bottom[2]->shape_string());
  }
  top[0]->Reshape({T_, N_, H_});
  if (expose_hidden()) {
    for (int i = 0; i < num_recurrent(); ++i) {
      const Blob* h = bottom[hidden_bottom(i)];
      AD_CHECK(h->num_axes() == 3 && h->shape(0) == 1 && h->shape(1) == N_ && h->shape(2) == H_,
               "exposed hidden state bottom " << hidden_bottom(i) << " must be (1, " << N_
                                              << ", " << H_ << "), got " << h->shape_string());
      top[hidden_top(i)]->Reshape({1, N_, H_});
    }
  }
  zero_state_.Reshape({N_, H_});
  ReshapeBuffers();
}

void RecurrentLayer::InputForward(const SeqOps& ops, const Blob& x, int w, int b,
                                  float* out) const {
  const Blob& W = *blobs_[w];
  const int64_t G = W.shape(0), K = W.shape(1), rows = x.count() / K;
  ops.gemm(Trans::No, Trans::Yes, rows, G, K, 1.f, ops.data(&x), ops.data(&W), 0.f, out);
  if (b >= 0) ops.add_bias(rows, G, ops.data(blobs_[b].get()), out);
}

void RecurrentLayer::InputBackward(const SeqOps& ops, const float* dout, const Blob& x, int w,
                                   int b, Blob* x_diff) {
  Blob* W = blobs_[w].get();
  const int64_t G = W->shape(0), K = W->shape(1), rows = x.count() / K;
  if (param_propagate_down(w))
    ops.gemm(Trans::Yes, Trans::No, G, K, rows, 1.f, dout, ops.data(&x), 1.f, ops.mutable_diff(W));
  if (b >= 0 && param_propagate_down(b))
    ops.column_sums_add(rows, G, dout, ops.mutable_diff(blobs_[b].get()));
  if (x_diff)
    ops.gemm(Trans::No, Trans::No, rows, K, G, 1.f, dout, ops.data(W), 0.f, ops.mutable_diff(x_diff));
}

void RecurrentLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  ForwardSequence(SeqOps(false), bottom, top);
}

void RecurrentLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  AD_CHECK(!propagate_down[1], "cannot backpropagate to the sequence indicators (cont)");
  BackwardSequence(SeqOps(false), top, propagate_down, bottom);
}

#ifdef AUGDROP_WITH_CUDA
void RecurrentLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  ForwardSequence(SeqOps(true), bottom, top);
}

void RecurrentLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  AD_CHECK(!propagate_down[1], "cannot backpropagate to the sequence indicators (cont)");
  BackwardSequence(SeqOps(true), top, propagate_down, bottom);
}
#endif

}  // namespace augdrop
