#include "layers/slice_layer.hpp"

#include "math/math_functions.hpp"

namespace augdrop {

void SliceLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("slice_param");
  AD_CHECK(!(p.has("axis") && p.has("slice_dim")),
           "Either axis or slice_dim should be specified; not both.");
  slice_point_ = p.get_ints("slice_point");
}

void SliceLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("slice_param");
  const int num_axes = bottom[0]->num_axes();
  if (p.has("slice_dim")) {
    const int64_t dim = p.get_int("slice_dim", 1);
    AD_CHECK(dim < num_axes, "slice_dim out of range (" << dim << " for a bottom of shape "
                                                        << bottom[0]->shape_string() << ")");
    slice_axis_ = int(dim);
  } else {
    slice_axis_ = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  }
  std::vector<int64_t> top_shape = bottom[0]->shape();
  const int64_t bottom_slice_axis = bottom[0]->shape(slice_axis_);
  num_slices_ = bottom[0]->count(0, slice_axis_);
  slice_size_ = bottom[0]->count(slice_axis_ + 1);
  const int64_t num_tops = int64_t(top.size());
  if (!slice_point_.empty()) {
    AD_CHECK(int64_t(slice_point_.size()) == num_tops - 1,
             slice_point_.size() << " slice_point(s) for " << num_tops
                                 << " tops: give one fewer than the tops");
    AD_CHECK(num_tops <= bottom_slice_axis, "slice axis: " << slice_axis_ << ", bottom[0] shape: "
                                                           << bottom[0]->shape_string()
                                                           << " cannot make " << num_tops
                                                           << " tops");
    int64_t prev = 0;
    std::vector<int64_t> sizes;
    for (int64_t point : slice_point_) {
      AD_CHECK(point > prev, "slice_point " << point << " must be greater than " << prev
                                            << " (increasing, and above 0)");
      sizes.push_back(point - prev);
      prev = point;
    }
    // A last point at the axis' end leaves an empty last top, as Caffe allows.
    AD_CHECK(prev <= bottom_slice_axis, "slice_point " << prev << " is past the end of axis "
                                                      << slice_axis_ << " (size "
                                                      << bottom_slice_axis << ")");
    sizes.push_back(bottom_slice_axis - prev);
    for (int64_t i = 0; i < num_tops; ++i) {
      top_shape[slice_axis_] = sizes[i];
      top[i]->Reshape(top_shape);
    }
  } else {
    AD_CHECK(bottom_slice_axis % num_tops == 0,
             "Number of top blobs (" << num_tops << ") should evenly divide input slice axis ("
                                     << bottom_slice_axis << ")");
    top_shape[slice_axis_] = bottom_slice_axis / num_tops;
    for (Blob* t : top) t->Reshape(top_shape);
  }
  if (top.size() == 1) {
    top[0]->ShareData(*bottom[0]);
    top[0]->ShareDiff(*bottom[0]);
  }
}

// bottom viewed as (num_slices, C, inner); top i takes [offset_i, offset_i + c_i).
void SliceLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  if (top.size() == 1) return;
  const float* x = bottom[0]->cpu_data();
  const int64_t bottom_axis = bottom[0]->shape(slice_axis_);
  int64_t offset = 0;
  for (Blob* t : top) {
    float* y = t->mutable_cpu_data();
    const int64_t c = t->shape(slice_axis_);
    for (int64_t n = 0; n < num_slices_; ++n)
      cpu_copy(c * slice_size_, x + (n * bottom_axis + offset) * slice_size_,
               y + n * c * slice_size_);
    offset += c;
  }
}

void SliceLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  if (!propagate_down[0] || top.size() == 1) return;
  float* dx = bottom[0]->mutable_cpu_diff();
  const int64_t bottom_axis = bottom[0]->shape(slice_axis_);
  int64_t offset = 0;
  for (Blob* t : top) {
    const float* dy = t->cpu_diff();
    const int64_t c = t->shape(slice_axis_);
    for (int64_t n = 0; n < num_slices_; ++n)
      cpu_copy(c * slice_size_, dy + n * c * slice_size_,
               dx + (n * bottom_axis + offset) * slice_size_);
    offset += c;
  }
}

}  // namespace augdrop
