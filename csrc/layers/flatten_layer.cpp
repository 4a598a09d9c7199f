#include "layers/flatten_layer.hpp"

namespace augdrop {

void FlattenLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(top[0] != bottom[0], "Flatten Layer does not allow in-place computation.");
  const Params& p = layer_param_.get_message("flatten_param");
  const int start_axis = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  const int end_axis = bottom[0]->CanonicalAxisIndex(int(p.get_int("end_axis", -1)));
  std::vector<int64_t> top_shape;
  for (int i = 0; i < start_axis; ++i) top_shape.push_back(bottom[0]->shape(i));
  // As in Caffe, end_axis = axis - 1 inserts an axis of 1 and one further before is an error
  // (count() refuses the range).
  top_shape.push_back(bottom[0]->count(start_axis, end_axis + 1));
  for (int i = end_axis + 1; i < bottom[0]->num_axes(); ++i) top_shape.push_back(bottom[0]->shape(i));
  top[0]->Reshape(top_shape);
  AD_CHECK(top[0]->count() == bottom[0]->count(), "Flatten changed the count");
}

void FlattenLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  top[0]->ShareData(*bottom[0]);
}

// As Caffe, regardless of propagate_down: the bottom's diff becomes the top's.
void FlattenLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  bottom[0]->ShareDiff(*top[0]);
}

}  // namespace augdrop
