#include "layers/embed_layer.hpp"

#include "core/filler.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void EmbedLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("embed_param");
  N_ = p.get_int("num_output", 0);
  AD_CHECK(N_ > 0, "EmbedLayer num_output must be positive (num_output: " << N_ << ")");
  K_ = p.get_int("input_dim", 0);
  AD_CHECK(K_ > 0, "EmbedLayer input_dim must be positive (input_dim: " << K_ << ")");
  bias_term_ = p.get_bool("bias_term", true);
  blobs_.clear();
  // (K, N): transposed from InnerProduct's weights, a row per index.
  blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{K_, N_}));
  FillBlob(p.get_message("weight_filler"), blobs_[0].get());
  if (bias_term_) {
    blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{N_}));
    FillBlob(p.get_message("bias_filler"), blobs_[1].get());
  }
  param_propagate_down_.assign(blobs_.size(), true);
}

void EmbedLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  M_ = bottom[0]->count();
  std::vector<int64_t> shape = bottom[0]->shape();
  shape.push_back(N_);
  top[0]->Reshape(shape);
}

void EmbedLayer::CheckIndices(const Blob& bottom) const {
  const float* x = bottom.cpu_data();
  for (int64_t m = 0; m < M_; ++m) {
    const int64_t index = static_cast<int64_t>(x[m]);
    AD_CHECK(index >= 0 && index < K_ && float(index) == x[m],
             "index " << x[m] << " at " << m << " is not an integer in [0, input_dim = " << K_
                      << ")");
  }
}

void EmbedLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  CheckIndices(*bottom[0]);
  const float* x = bottom[0]->cpu_data();
  const float* w = blobs_[0]->cpu_data();
  const float* b = bias_term_ ? blobs_[1]->cpu_data() : nullptr;
  float* y = top[0]->mutable_cpu_data();
  for (int64_t m = 0; m < M_; ++m) {
    const float* row = w + int64_t(x[m]) * N_;
    float* out = y + m * N_;
    for (int64_t d = 0; d < N_; ++d) out[d] = b ? row[d] + b[d] : row[d];
  }
}

void EmbedLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  AD_CHECK(!propagate_down[0], "Can't backpropagate to EmbedLayer input.");
  const float* dy = top[0]->cpu_diff();
  if (param_propagate_down(0)) {
    const float* x = bottom[0]->cpu_data();
    float* dw = blobs_[0]->mutable_cpu_diff();
    for (int64_t m = 0; m < M_; ++m) {
      float* row = dw + int64_t(x[m]) * N_;
      for (int64_t d = 0; d < N_; ++d) row[d] += dy[m * N_ + d];
    }
  }
  if (bias_term_ && param_propagate_down(1)) {
    float* db = blobs_[1]->mutable_cpu_diff();
    for (int64_t d = 0; d < N_; ++d) {
      float s = 0.f;
      for (int64_t m = 0; m < M_; ++m) s += dy[m * N_ + d];
      db[d] += s;
    }
  }
}

}  // namespace augdrop
