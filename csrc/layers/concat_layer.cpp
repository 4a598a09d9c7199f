#include "layers/concat_layer.hpp"

#include "math/math_functions.hpp"

namespace augdrop {

void ConcatLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("concat_param");
  AD_CHECK(!(p.has("axis") && p.has("concat_dim")),
           "Either axis or concat_dim should be specified; not both.");
}

void ConcatLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("concat_param");
  const int num_axes = bottom[0]->num_axes();
  if (p.has("concat_dim")) {
    const int64_t dim = p.get_int("concat_dim", 1);
    AD_CHECK(dim < num_axes, "concat_dim out of range (" << dim << " for a bottom of shape "
                                                         << bottom[0]->shape_string() << ")");
    concat_axis_ = int(dim);
  } else {
    concat_axis_ = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  }
  std::vector<int64_t> top_shape = bottom[0]->shape();
  num_concats_ = bottom[0]->count(0, concat_axis_);
  concat_input_size_ = bottom[0]->count(concat_axis_ + 1);
  for (size_t i = 1; i < bottom.size(); ++i) {
    AD_CHECK(bottom[i]->num_axes() == num_axes,
             "All inputs must have the same #axes (bottom[" << i << "] "
                                                          << bottom[i]->shape_string()
                                                          << ", bottom[0] "
                                                          << bottom[0]->shape_string() << ")");
    for (int j = 0; j < num_axes; ++j) {
      if (j == concat_axis_) continue;
      AD_CHECK(top_shape[j] == bottom[i]->shape(j),
               "All inputs must have the same shape, except at concat_axis (bottom["
                   << i << "] " << bottom[i]->shape_string() << ", bottom[0] "
                   << bottom[0]->shape_string() << ", axis " << concat_axis_ << ")");
    }
    top_shape[concat_axis_] += bottom[i]->shape(concat_axis_);
  }
  top[0]->Reshape(top_shape);
  if (bottom.size() == 1) {
    top[0]->ShareData(*bottom[0]);
    top[0]->ShareDiff(*bottom[0]);
  }
}

// top viewed as (num_concats, top_axis, inner); bottom i fills [offset_i, offset_i + c_i).
void ConcatLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  if (bottom.size() == 1) return;
  float* y = top[0]->mutable_cpu_data();
  const int64_t top_axis = top[0]->shape(concat_axis_);
  int64_t offset = 0;
  for (Blob* b : bottom) {
    const float* x = b->cpu_data();
    const int64_t c = b->shape(concat_axis_);
    for (int64_t n = 0; n < num_concats_; ++n)
      cpu_copy(c * concat_input_size_, x + n * c * concat_input_size_,
               y + (n * top_axis + offset) * concat_input_size_);
    offset += c;
  }
}

void ConcatLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  if (bottom.size() == 1) return;
  const float* dy = top[0]->cpu_diff();
  const int64_t top_axis = top[0]->shape(concat_axis_);
  int64_t offset = 0;
  for (size_t i = 0; i < bottom.size(); ++i) {
    const int64_t c = bottom[i]->shape(concat_axis_);
    if (propagate_down[i]) {
      float* dx = bottom[i]->mutable_cpu_diff();
      for (int64_t n = 0; n < num_concats_; ++n)
        cpu_copy(c * concat_input_size_, dy + (n * top_axis + offset) * concat_input_size_,
                 dx + n * c * concat_input_size_);
    }
    offset += c;
  }
}

}  // namespace augdrop
