#include "layers/reshape_layer.hpp"

namespace augdrop {

void ReshapeLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(top[0] != bottom[0], "Reshape Layer does not allow in-place computation.");
  const Params& p = layer_param_.get_message("reshape_param");
  new_dims_ = p.get_message("shape").get_ints("dim");
  copy_axes_.clear();
  inferred_axis_ = -1;
  constant_count_ = 1;
  for (int i = 0; i < int(new_dims_.size()); ++i) {
    const int64_t d = new_dims_[i];
    if (d == 0) {
      copy_axes_.push_back(i);
    } else if (d == -1) {
      AD_CHECK(inferred_axis_ == -1, "new shape contains multiple -1 dims; at most a single "
                                     "(1) value of -1 may be specified");
      inferred_axis_ = i;
    } else {
      AD_CHECK(d > 0, "reshape dim " << d << " at position " << i
                                     << ": dims must be positive, 0 (copy) or -1 (infer)");
      constant_count_ *= d;
    }
  }
}

void ReshapeLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("reshape_param");
  const int n = bottom[0]->num_axes();
  const int input_start_axis = int(p.get_int("axis", 0));
  // A negative axis counts from the end, -1 being the position past the last axis.
  const int start_axis = input_start_axis >= 0 ? input_start_axis : n + input_start_axis + 1;
  AD_CHECK(start_axis >= 0, "axis " << input_start_axis << " out of range");
  AD_CHECK(start_axis <= n, "axis " << input_start_axis << " out of range for " << n
                                    << "-D input blob");
  const int num_axes = int(p.get_int("num_axes", -1));
  AD_CHECK(num_axes >= -1, "num_axes must be >= 0, or -1 for all");
  const int end_axis = num_axes == -1 ? n : start_axis + num_axes;
  AD_CHECK(end_axis <= n, "end_axis = axis + num_axes is out of range");

  std::vector<int64_t> top_shape;
  for (int i = 0; i < start_axis; ++i) top_shape.push_back(bottom[0]->shape(i));
  for (int64_t d : new_dims_) top_shape.push_back(d);
  for (int i = end_axis; i < n; ++i) top_shape.push_back(bottom[0]->shape(i));
  for (int c : copy_axes_) {
    AD_CHECK(start_axis + c < n, "new shape contains a 0, but there was no corresponding "
                                 "bottom axis to copy");
    top_shape[start_axis + c] = bottom[0]->shape(start_axis + c);
  }
  if (inferred_axis_ >= 0) {
    int64_t explicit_count = constant_count_ * bottom[0]->count(0, start_axis) *
                             bottom[0]->count(end_axis);
    for (int c : copy_axes_) explicit_count *= top_shape[start_axis + c];
    AD_CHECK(explicit_count != 0 && bottom[0]->count() % explicit_count == 0,
             "bottom count (" << bottom[0]->count()
                              << ") must be divisible by the product of the specified "
                                 "dimensions ("
                              << explicit_count << ")");
    top_shape[start_axis + inferred_axis_] = bottom[0]->count() / explicit_count;
  }
  top[0]->Reshape(top_shape);
  AD_CHECK(top[0]->count() == bottom[0]->count(),
           "output count must match input count (top " << top[0]->shape_string() << ", bottom "
                                                       << bottom[0]->shape_string() << ")");
  top[0]->ShareData(*bottom[0]);
  top[0]->ShareDiff(*bottom[0]);
}

}  // namespace augdrop
