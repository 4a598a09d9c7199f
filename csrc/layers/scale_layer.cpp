#include "layers/scale_layer.hpp"

#include <memory>
#include <string>

#include "core/filler.hpp"
#include "math/math_functions.hpp"
#include "math/row_blocks.hpp"
#include "math/row_passes.hpp"

namespace augdrop {

void ScaleLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("scale_param");
  const int axis = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  int64_t num_axes = p.get_int("num_axes", 1);
  AD_CHECK(num_axes >= -1,
           "num_axes must be non-negative, or -1 to extend to the end of bottom[0]; got "
               << num_axes);
  // A scale bottom brings its own number of axes (Caffe gives it to the internal Bias layer).
  if (bottom.size() > 1) num_axes = bottom[1]->num_axes();
  if (num_axes >= 0)
    AD_CHECK(bottom[0]->num_axes() >= axis + num_axes,
             "scale blob's shape extends past bottom[0]'s shape when applied starting with "
             "bottom[0] axis = "
                 << axis << " (num_axes " << num_axes << ", bottom "
                 << bottom[0]->shape_string() << ")");
  const auto& bshape = bottom[0]->shape();
  const auto first = bshape.begin() + axis;
  const auto last = num_axes == -1 ? bshape.end() : first + num_axes;
  const std::vector<int64_t> param_shape(first, last);

  blobs_.clear();
  if (bottom.size() == 1) {
    blobs_.push_back(std::make_shared<Blob>(param_shape));
    if (p.has("filler")) {
      FillBlob(p.get_message("filler"), blobs_[0].get());
    } else {
      Params unit;  // identity by default: constant 1
      unit.set("type", std::string("constant"));
      unit.set("value", 1.0);
      FillBlob(unit, blobs_[0].get());
    }
  }
  bias_term_ = p.get_bool("bias_term", false);
  bias_param_id_ = -1;
  if (bias_term_) {
    bias_param_id_ = int(blobs_.size());
    blobs_.push_back(std::make_shared<Blob>(param_shape));
    FillBlob(p.get_message("bias_filler"), blobs_.back().get());
  }
  param_propagate_down_.assign(blobs_.size(), true);
}

void ScaleLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("scale_param");
  const Blob& scale = *ScaleBlob(bottom);
  // A scalar scale (0 axes) is applied with axis 0: the same result, outer_dim_ == 1.
  axis_ = scale.num_axes() == 0 ? 0 : bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  AD_CHECK(bottom[0]->num_axes() >= axis_ + scale.num_axes(),
           "scale blob's shape extends past bottom[0]'s shape when applied starting with "
           "bottom[0] axis = "
               << axis_ << " (scale " << scale.shape_string() << ", bottom "
               << bottom[0]->shape_string() << ")");
  for (int i = 0; i < scale.num_axes(); ++i)
    AD_CHECK(bottom[0]->shape(axis_ + i) == scale.shape(i),
             "dimension mismatch between bottom[0]->shape(" << axis_ + i << ") and scale->shape("
                                                           << i << "): bottom "
                                                           << bottom[0]->shape_string()
                                                           << ", scale " << scale.shape_string());
  outer_dim_ = bottom[0]->count(0, axis_);
  scale_dim_ = scale.count();
  inner_dim_ = bottom[0]->count(axis_ + scale.num_axes());
  if (bottom[0] == top[0])
    temp_.ReshapeLike(*bottom[0]);
  else
    top[0]->ReshapeLike(*bottom[0]);
  sum_result_.Reshape({outer_dim_, scale_dim_});
}

void ScaleLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  // One pass: in place, the bottom data is kept for the scale gradient as y is written.
  const float* x = bottom[0]->cpu_data();  // (outer, S, inner)
  float* y = top[0]->mutable_cpu_data();   // (outer, S, inner); may alias x
  const float* bias = bias_term_ ? blobs_[bias_param_id_]->cpu_data() : nullptr;  // (S)
  float* keep = bottom[0] == top[0] ? temp_.mutable_cpu_data() : nullptr;
  cpu_rows_scale(outer_dim_ * scale_dim_, inner_dim_, scale_dim_, x, ScaleBlob(bottom)->cpu_data(),
                 bias, y, keep);
}

void ScaleLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  const float* dy = top[0]->cpu_diff();  // (outer, S, inner)
  const int64_t rows = outer_dim_ * scale_dim_;
  const bool bias_grad = bias_term_ && param_propagate_down(bias_param_id_);
  const bool learned = bottom.size() == 1;
  const bool scale_grad = (learned && param_propagate_down(0)) || (!learned && propagate_down[1]);
  // Per (outer, s) row: sum dy (the bias gradient) and sum dy * x (the scale gradient), in
  // one pass where both are wanted; then summed over outer, one outer index at a time.
  float* row_sums = sum_result_.mutable_cpu_diff();  // (outer, S)
  float* row_dots = sum_result_.mutable_cpu_data();  // (outer, S)
  const float* x = nullptr;
  if (scale_grad) x = (bottom[0] == top[0] ? &temp_ : bottom[0])->cpu_data();
  if (bias_grad && scale_grad) {
    cpu_row_sums_and_dots(rows, inner_dim_, dy, x, row_sums, row_dots);
  } else if (bias_grad) {
    cpu_row_sums(rows, inner_dim_, dy, 1.f, row_sums);
  } else if (scale_grad) {
    cpu_row_dots(rows, inner_dim_, dy, x, row_dots);
  }
  if (bias_grad) {
    float* dbias = blobs_[bias_param_id_]->mutable_cpu_diff();
    for (int64_t n = 0; n < outer_dim_; ++n)
      for (int64_t d = 0; d < scale_dim_; ++d) dbias[d] += row_sums[n * scale_dim_ + d];
  }
  if (scale_grad) {
    float* dscale = ScaleBlob(bottom)->mutable_cpu_diff();
    for (int64_t d = 0; d < scale_dim_; ++d) {
      float s = 0.f;
      for (int64_t n = 0; n < outer_dim_; ++n) s += row_dots[n * scale_dim_ + d];
      dscale[d] = learned ? dscale[d] + s : s;
    }
  }
  if (propagate_down[0]) {
    const float* scale = ScaleBlob(bottom)->cpu_data();
    float* dx = bottom[0]->mutable_cpu_diff();  // may alias dy
    ForRowBlocks(rows, inner_dim_, [&](int64_t r0, int64_t nr) {
      for (int64_t r = r0; r < r0 + nr; ++r) {
        const float factor = scale[r % scale_dim_];
        for (int64_t k = r * inner_dim_; k < (r + 1) * inner_dim_; ++k) dx[k] = factor * dy[k];
      }
    });
  }
}

}  // namespace augdrop
