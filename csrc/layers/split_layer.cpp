#include "layers/split_layer.hpp"

#include "math/math_functions.hpp"

namespace augdrop {

void SplitLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  for (Blob* t : top) {
    AD_CHECK(t != bottom[0], "Split layer does not work in place");
    t->ReshapeLike(*bottom[0]);
    t->ShareData(*bottom[0]);
  }
}

void SplitLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  float* dx = bottom[0]->mutable_cpu_diff();
  cpu_copy(n, top[0]->cpu_diff(), dx);
  for (size_t i = 1; i < top.size(); ++i) cpu_axpy(n, 1.f, top[i]->cpu_diff(), dx);
}

}  // namespace augdrop
