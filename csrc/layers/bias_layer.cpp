#include "layers/bias_layer.hpp"

#include <memory>

#include "core/filler.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void BiasLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  blobs_.clear();
  if (bottom.size() == 1) {
    const Params& p = layer_param_.get_message("bias_param");
    const int axis = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
    const int64_t num_axes = p.get_int("num_axes", 1);
    AD_CHECK(num_axes >= -1,
             "num_axes must be non-negative, or -1 to extend to the end of bottom[0]; got "
                 << num_axes);
    if (num_axes >= 0)
      AD_CHECK(bottom[0]->num_axes() >= axis + num_axes,
               "bias blob's shape extends past bottom[0]'s shape when applied starting with "
               "bottom[0] axis = "
                   << axis << " (num_axes " << num_axes << ", bottom "
                   << bottom[0]->shape_string() << ")");
    const auto& bshape = bottom[0]->shape();
    const auto first = bshape.begin() + axis;
    const auto last = num_axes == -1 ? bshape.end() : first + num_axes;
    blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>(first, last)));
    FillBlob(p.get_message("filler"), blobs_[0].get());  // constant 0 by default
  }
  param_propagate_down_.assign(blobs_.size(), true);
}

void BiasLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("bias_param");
  const Blob& bias = bottom.size() > 1 ? *bottom[1] : *blobs_[0];
  // A scalar bias is applied with axis 0: the same result, outer_dim_ == 1 (as Caffe).
  const int axis =
      bias.num_axes() == 0 ? 0 : bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  AD_CHECK(bottom[0]->num_axes() >= axis + bias.num_axes(),
           "bias blob's shape extends past bottom[0]'s shape when applied starting with "
           "bottom[0] axis = "
               << axis << " (bias " << bias.shape_string() << ", bottom "
               << bottom[0]->shape_string() << ")");
  for (int i = 0; i < bias.num_axes(); ++i)
    AD_CHECK(bottom[0]->shape(axis + i) == bias.shape(i),
             "dimension mismatch between bottom[0]->shape(" << axis + i << ") and bias->shape("
                                                           << i << "): bottom "
                                                           << bottom[0]->shape_string()
                                                           << ", bias " << bias.shape_string());
  outer_dim_ = bottom[0]->count(0, axis);
  bias_dim_ = bias.count();
  inner_dim_ = bottom[0]->count(axis + bias.num_axes());
  if (bottom[0] != top[0]) top[0]->ReshapeLike(*bottom[0]);
}

void BiasLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* bias = (bottom.size() > 1 ? bottom[1] : blobs_[0].get())->cpu_data();  // (B)
  const float* x = bottom[0]->cpu_data();  // (outer, B, inner)
  float* y = top[0]->mutable_cpu_data();   // may alias x
  for (int64_t n = 0; n < outer_dim_; ++n)
    for (int64_t d = 0; d < bias_dim_; ++d) {
      const int64_t off = (n * bias_dim_ + d) * inner_dim_;
      for (int64_t k = 0; k < inner_dim_; ++k) y[off + k] = x[off + k] + bias[d];
    }
}

void BiasLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  const float* dy = top[0]->cpu_diff();
  // In place, dx is dy already.
  if (propagate_down[0] && bottom[0] != top[0])
    cpu_copy(bottom[0]->count(), dy, bottom[0]->mutable_cpu_diff());
  const bool learned = bottom.size() == 1;
  if ((learned && param_propagate_down(0)) || (!learned && propagate_down[1])) {
    float* dbias = (learned ? blobs_[0].get() : bottom[1])->mutable_cpu_diff();
    if (!learned) cpu_set(bias_dim_, 0.f, dbias);
    for (int64_t n = 0; n < outer_dim_; ++n)
      for (int64_t d = 0; d < bias_dim_; ++d) {
        const float* row = dy + (n * bias_dim_ + d) * inner_dim_;
        float s = 0.f;
        for (int64_t k = 0; k < inner_dim_; ++k) s += row[k];
        dbias[d] += s;
      }
  }
}

}  // namespace augdrop
