#include "layers/batch_reindex_layer.hpp"

#include "math/math_functions.hpp"

namespace augdrop {

void BatchReindexLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[1]->num_axes() == 1,
           "the index bottom must have one axis, got " << bottom[1]->shape_string());
  std::vector<int64_t> shape = bottom[0]->shape();
  shape[0] = bottom[1]->shape(0);
  top[0]->Reshape(shape);
}

void BatchReindexLayer::CheckIndices(const BlobVec& bottom) const {
  const int64_t n = bottom[0]->shape(0);
  const float* p = bottom[1]->cpu_data();
  for (int64_t i = 0; i < bottom[1]->count(); ++i) {
    AD_CHECK(p[i] >= 0, "Index specified for reindex layer was negative (" << p[i] << " at "
                                                                           << i << ")");
    AD_CHECK(p[i] < n, "Index specified for reindex layer was greater than batch size ("
                           << p[i] << " at " << i << ", batch size " << n << ")");
  }
}

void BatchReindexLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  CheckIndices(bottom);
  const int64_t count = top[0]->count();
  if (count == 0) return;
  const int64_t inner = bottom[0]->count(1);
  const float* x = bottom[0]->cpu_data();
  const float* p = bottom[1]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  for (int64_t i = 0; i < count; ++i) y[i] = x[int64_t(p[i / inner]) * inner + i % inner];
}

void BatchReindexLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                     const BlobVec& bottom) {
  AD_CHECK(!propagate_down[1], "Cannot backprop to index.");
  if (!propagate_down[0]) return;
  const int64_t inner = bottom[0]->count(1);
  const float* p = bottom[1]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  cpu_set(bottom[0]->count(), 0.f, dx);
  for (int64_t i = 0; i < top[0]->count(); ++i)
    dx[int64_t(p[i / inner]) * inner + i % inner] += dy[i];
}

}  // namespace augdrop
