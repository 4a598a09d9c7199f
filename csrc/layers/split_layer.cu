// Split on the GPU (Caffe's split_layer.cu): the same formulas as split_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/split_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

// The tops share the bottom's data (Reshape): nothing to compute.
void SplitLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {}

// dx = sum_t dy_t, in top order.
void SplitLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  float* dx = bottom[0]->mutable_gpu_diff();
  gpu_copy(n, top[0]->gpu_diff(), dx);
  for (size_t i = 1; i < top.size(); ++i) gpu_axpy(n, 1.f, top[i]->gpu_diff(), dx);
}

}  // namespace augdrop
