// SPP on the GPU: spp_layer.cpp's steps, the Pooling levels in GPU mode and the flatten, concat
// and split sums as device copies and axpys.
#include "layers/spp_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void SPPLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t num = bottom[0]->shape(0), row = top[0]->count(1);
  float* y = top[0]->mutable_gpu_data();
  for (size_t l = 0; l < levels_.size(); ++l) {
    levels_[l]->Forward(bottom, {pooled_[l].get()});
    const int64_t dim = pooled_[l]->count(1);
    const float* p = pooled_[l]->gpu_data();
    for (int64_t n = 0; n < num; ++n) gpu_copy(dim, p + n * dim, y + n * row + offsets_[l]);
  }
}

void SPPLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t num = bottom[0]->shape(0), row = top[0]->count(1);
  const float* dy = top[0]->gpu_diff();
  for (size_t l = 0; l < levels_.size(); ++l) {
    const int64_t dim = pooled_[l]->count(1);
    float* dp = pooled_[l]->mutable_gpu_diff();
    for (int64_t n = 0; n < num; ++n) gpu_copy(dim, dy + n * row + offsets_[l], dp + n * dim);
    Blob* target = l == 0 ? bottom[0] : &level_diff_;
    levels_[l]->Backward({pooled_[l].get()}, {true}, {target});
    if (l > 0) gpu_axpy(bottom[0]->count(), 1.f, level_diff_.gpu_diff(), bottom[0]->mutable_gpu_diff());
  }
}

}  // namespace augdrop
