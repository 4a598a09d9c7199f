#include "layers/split_layer.hpp"

#include <vector>

#include "core/parallel.hpp"
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
  std::vector<const float*> dys;
  for (const Blob* t : top) dys.push_back(t->cpu_diff());
  // Caffe's copy-then-axpy per top, made block by block (one read of memory).
  ForEachBlock(n, [&](int64_t begin, int64_t end) {
    cpu_copy(end - begin, dys[0] + begin, dx + begin);
    for (size_t i = 1; i < dys.size(); ++i) cpu_axpy(end - begin, 1.f, dys[i] + begin, dx + begin);
  });
}

}  // namespace augdrop
