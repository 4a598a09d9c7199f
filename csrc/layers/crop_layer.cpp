#include "layers/crop_layer.hpp"

#include "math/math_functions.hpp"

namespace augdrop {

void CropLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("crop_param");
  const int input_dim = bottom[0]->num_axes();
  const int start_axis = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 2)));
  const size_t num_offsets = p.count("offset");
  if (num_offsets > 1)
    AD_CHECK(start_axis + int(num_offsets) == input_dim,
             "number of offset values specified must be equal to the number of dimensions "
             "following axis ("
                 << num_offsets << " offsets, axis " << start_axis << " of a "
                 << input_dim << "-D bottom)");
}

void CropLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("crop_param");
  num_axes_ = bottom[0]->num_axes();
  AD_CHECK(bottom[1]->num_axes() >= num_axes_,
           "bottom[1] " << bottom[1]->shape_string()
                        << " must have at least as many axes as bottom[0] "
                        << bottom[0]->shape_string());
  const int start_axis = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 2)));
  const std::vector<int64_t> offset = p.get_ints("offset");
  std::vector<int64_t> new_shape = bottom[0]->shape();
  const size_t bytes = size_t(3 * num_axes_) * sizeof(int64_t);
  if (!layout_ || layout_->size() != bytes) layout_ = std::make_unique<SyncedMemory>(bytes);
  int64_t* offsets = static_cast<int64_t*>(layout_->mutable_cpu_data());
  for (int i = 0; i < num_axes_; ++i) {
    int64_t crop_offset = 0;
    if (i >= start_axis) {
      new_shape[i] = bottom[1]->shape(i);
      if (offset.size() == 1)
        crop_offset = offset[0];
      else if (offset.size() > 1)
        crop_offset = offset[i - start_axis];
      AD_CHECK(bottom[0]->shape(i) - crop_offset >= bottom[1]->shape(i),
               "the crop for dimension " << i << " is out-of-bounds with size "
                                         << bottom[1]->shape(i) << " and offset " << crop_offset
                                         << " (bottom[0] " << bottom[0]->shape_string() << ")");
    }
    offsets[i] = crop_offset;
  }
  top[0]->Reshape(new_shape);
  int64_t* src_strides = offsets + num_axes_;
  int64_t* dest_strides = offsets + 2 * num_axes_;
  for (int i = 0; i < num_axes_; ++i) {
    src_strides[i] = bottom[0]->count(i + 1);
    dest_strides[i] = top[0]->count(i + 1);
  }
}

int64_t CropLayer::BottomIndex(int64_t index) const {
  const int64_t* offsets = static_cast<const int64_t*>(layout_->cpu_data());
  const int64_t* src_strides = offsets + num_axes_;
  const int64_t* dest_strides = offsets + 2 * num_axes_;
  int64_t src = 0;
  for (int i = 0; i < num_axes_; ++i) {
    const int64_t coord = index / dest_strides[i];
    index -= coord * dest_strides[i];
    src += src_strides[i] * (coord + offsets[i]);
  }
  return src;
}

// Row by row of the last axis, which is contiguous on both sides.
void CropLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = top[0]->count();
  if (count == 0) return;
  const int64_t row = top[0]->shape(-1);
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  for (int64_t r = 0; r < count; r += row) cpu_copy(row, x + BottomIndex(r), y + r);
}

void CropLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  float* dx = bottom[0]->mutable_cpu_diff();
  cpu_set(bottom[0]->count(), 0.f, dx);
  const int64_t count = top[0]->count();
  if (count == 0) return;
  const int64_t row = top[0]->shape(-1);
  const float* dy = top[0]->cpu_diff();
  for (int64_t r = 0; r < count; r += row) cpu_copy(row, dy + r, dx + BottomIndex(r));
}

}  // namespace augdrop
