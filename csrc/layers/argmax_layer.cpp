#include "layers/argmax_layer.hpp"

#include <algorithm>
#include <functional>
#include <utility>

namespace augdrop {

void ArgMaxLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("argmax_param");
  out_max_val_ = p.get_bool("out_max_val", false);
  top_k_ = p.get_int("top_k", 1);
  has_axis_ = p.has("axis");
  AD_CHECK(top_k_ >= 1, "top k must not be less than 1 (top_k: " << top_k_ << ")");
  if (has_axis_) {
    axis_ = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 0)));
    AD_CHECK(top_k_ <= bottom[0]->shape(axis_),
             "top_k must be less than or equal to the dimension of the axis (top_k "
                 << top_k_ << ", axis " << axis_ << " of " << bottom[0]->shape_string() << ")");
  } else {
    AD_CHECK(top_k_ <= bottom[0]->count(1),
             "top_k must be less than or equal to the dimension of the flattened bottom blob "
             "per instance (top_k "
                 << top_k_ << ", bottom " << bottom[0]->shape_string() << ")");
  }
}

void ArgMaxLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  std::vector<int64_t> shape;
  if (has_axis_) {
    shape = bottom[0]->shape();
    shape[axis_] = top_k_;
  } else {
    shape.assign(std::max(bottom[0]->num_axes(), 3), 1);
    shape[0] = bottom[0]->shape(0);
    shape[1] = out_max_val_ ? 2 : 1;
    shape[2] = top_k_;
  }
  top[0]->Reshape(shape);
}

void ArgMaxLayer::RowLayout(const Blob& bottom, int64_t* num, int64_t* dim,
                            int64_t* axis_dist) const {
  *dim = has_axis_ ? bottom.shape(axis_) : bottom.count(1);
  *axis_dist = has_axis_ ? bottom.count(axis_) / *dim : 1;
  *num = bottom.count() / *dim;
}

void ArgMaxLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  int64_t num, dim, axis_dist;
  RowLayout(*bottom[0], &num, &dim, &axis_dist);
  std::vector<std::pair<float, int64_t>> row(dim);
  for (int64_t i = 0; i < num; ++i) {
    // Row i: entries j at (i / axis_dist * dim + j) * axis_dist + i % axis_dist.
    const int64_t base = i / axis_dist * dim * axis_dist + i % axis_dist;
    for (int64_t j = 0; j < dim; ++j) row[j] = {x[base + j * axis_dist], j};
    std::partial_sort(row.begin(), row.begin() + top_k_, row.end(),
                      std::greater<std::pair<float, int64_t>>());
    for (int64_t j = 0; j < top_k_; ++j) {
      const int64_t at = i / axis_dist * top_k_ * axis_dist + j * axis_dist + i % axis_dist;
      if (has_axis_) {
        y[at] = out_max_val_ ? row[j].first : float(row[j].second);
      } else if (out_max_val_) {
        y[2 * i * top_k_ + j] = float(row[j].second);
        y[2 * i * top_k_ + top_k_ + j] = row[j].first;
      } else {
        y[i * top_k_ + j] = float(row[j].second);
      }
    }
  }
}

void ArgMaxLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  AD_FAIL("ArgMax has no backward pass");
}

}  // namespace augdrop
