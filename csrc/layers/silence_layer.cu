// Silence on the GPU (Caffe's silence_layer.cu): the same as silence_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/silence_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

// dx = 0 for every bottom that propagates.
void SilenceLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  for (size_t i = 0; i < bottom.size(); ++i)
    if (propagate_down[i]) gpu_set(bottom[i]->count(), 0.f, bottom[i]->mutable_gpu_diff());
}

}  // namespace augdrop
