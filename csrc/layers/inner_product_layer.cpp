#include "layers/inner_product_layer.hpp"

#include "core/filler.hpp"
#include "core/parallel.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void InnerProductLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("inner_product_param");
  AD_CHECK(p.has("num_output"), "inner_product_param.num_output is required");
  N_ = p.get_int("num_output", 0);
  AD_CHECK(N_ > 0, "num_output must be positive, got " << N_);
  bias_term_ = p.get_bool("bias_term", true);
  transpose_ = p.get_bool("transpose", false);
  axis_ = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  K_ = bottom[0]->count(axis_);
  blobs_.clear();
  blobs_.push_back(std::make_shared<Blob>(transpose_ ? std::vector<int64_t>{K_, N_}
                                                     : std::vector<int64_t>{N_, K_}));
  FillBlob(p.get_message("weight_filler"), blobs_[0].get());
  if (bias_term_) {
    blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{N_}));
    FillBlob(p.get_message("bias_filler"), blobs_[1].get());
  }
  param_propagate_down_.assign(blobs_.size(), true);
}

void InnerProductLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const int64_t k = bottom[0]->count(axis_);
  AD_CHECK(k == K_, "input size incompatible with inner product parameters: bottom "
                        << bottom[0]->shape_string() << " flattens to " << k
                        << " features from axis " << axis_ << ", weights expect " << K_);
  M_ = bottom[0]->count(0, axis_);
  std::vector<int64_t> shape(bottom[0]->shape().begin(), bottom[0]->shape().begin() + axis_);
  shape.push_back(N_);
  top[0]->Reshape(shape);
}

// Threads split the batch rows (forward, bottom diff) or the outputs (weight and bias
// diffs), each running a single-threaded GEMM on its block; the blocks are the reduction
// slots (core/parallel.hpp), so every GEMM call, and its rounding, is the same on any
// thread count.
void InnerProductLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();   // (M, K)
  const float* w = blobs_[0]->cpu_data();   // (N, K) or (K, N)
  const float* b = bias_term_ ? blobs_[1]->cpu_data() : nullptr;
  float* y = top[0]->mutable_cpu_data();    // (M, N)
  ParallelSlots(M_, 8, [&](int64_t, int64_t m0, int64_t m1, int) {
    cpu_gemm(Trans::No, transpose_ ? Trans::No : Trans::Yes, m1 - m0, N_, K_, 1.f, x + m0 * K_,
             w, 0.f, y + m0 * N_);
    if (b)
      for (int64_t m = m0; m < m1; ++m)
        for (int64_t n = 0; n < N_; ++n) y[m * N_ + n] += b[n];
  });
}

void InnerProductLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                     const BlobVec& bottom) {
  const float* dy = top[0]->cpu_diff();     // (M, N)
  const float* x = bottom[0]->cpu_data();   // (M, K)
  const bool weight_grad = param_propagate_down(0);
  const bool bias_grad = bias_term_ && param_propagate_down(1);
  if (weight_grad || bias_grad) {
    float* dw = weight_grad ? blobs_[0]->mutable_cpu_diff() : nullptr;
    float* db = bias_grad ? blobs_[1]->mutable_cpu_diff() : nullptr;
    ParallelSlots(N_, 8, [&](int64_t, int64_t n0, int64_t n1, int) {
      if (dw && transpose_)  // dW[:, n0:n1] (K, n) += x^T (K, M) dy[:, n0:n1] (M, n)
        cpu_gemm_ld(Trans::Yes, Trans::No, K_, n1 - n0, M_, 1.f, x, K_, dy + n0, N_, 1.f,
                    dw + n0, N_);
      else if (dw)  // dW[n0:n1] (n, K) += dy[:, n0:n1]^T (n, M) x (M, K)
        cpu_gemm_ld(Trans::Yes, Trans::No, n1 - n0, K_, M_, 1.f, dy + n0, N_, x, K_, 1.f,
                    dw + n0 * K_, K_);
      if (db)
        for (int64_t m = 0; m < M_; ++m)
          for (int64_t n = n0; n < n1; ++n) db[n] += dy[m * N_ + n];
    });
  }
  if (propagate_down[0]) {
    const float* w = blobs_[0]->cpu_data();
    float* dx = bottom[0]->mutable_cpu_diff();  // (M, K) = dy (M, N) * op(W) (N, K)
    ParallelSlots(M_, 8, [&](int64_t, int64_t m0, int64_t m1, int) {
      cpu_gemm(Trans::No, transpose_ ? Trans::Yes : Trans::No, m1 - m0, K_, N_, 1.f,
               dy + m0 * N_, w, 0.f, dx + m0 * K_);
    });
  }
}

}  // namespace augdrop
