// Concat on the GPU (Caffe's concat_layer.cu): the same copies as concat_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/concat_layer.hpp"

namespace augdrop {
namespace {

// One bottom's part of the top: bottom (num_concats, c, inner) <-> top (num_concats, top_axis,
// inner) at [offset, offset + c) of the axis. forward: top <- bottom; else bottom <- top.
__global__ void ConcatCopy(int64_t n, const float* in, bool forward, int64_t inner, int64_t c,
                           int64_t top_axis, int64_t offset, float* out) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t slab = c * inner;
    const int64_t top_index = (i / slab * top_axis + offset) * inner + i % slab;
    if (forward)
      out[top_index] = in[i];
    else
      out[i] = in[top_index];
  }
}

}  // namespace

void ConcatLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  if (bottom.size() == 1) return;
  float* y = top[0]->mutable_gpu_data();
  const int64_t top_axis = top[0]->shape(concat_axis_);
  int64_t offset = 0;
  for (Blob* b : bottom) {
    const int64_t c = b->shape(concat_axis_);
    const int64_t n = b->count();
    if (n > 0) {
      ConcatCopy<<<CudaBlocks(n), kCudaThreads>>>(n, b->gpu_data(), true, concat_input_size_, c,
                                                  top_axis, offset, y);
      AD_CUDA_POST_KERNEL_CHECK;
    }
    offset += c;
  }
}

void ConcatLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  if (bottom.size() == 1) return;
  const float* dy = top[0]->gpu_diff();
  const int64_t top_axis = top[0]->shape(concat_axis_);
  int64_t offset = 0;
  for (size_t i = 0; i < bottom.size(); ++i) {
    const int64_t c = bottom[i]->shape(concat_axis_);
    const int64_t n = bottom[i]->count();
    if (propagate_down[i] && n > 0) {
      ConcatCopy<<<CudaBlocks(n), kCudaThreads>>>(n, dy, false, concat_input_size_, c, top_axis,
                                                  offset, bottom[i]->mutable_gpu_diff());
      AD_CUDA_POST_KERNEL_CHECK;
    }
    offset += c;
  }
}

}  // namespace augdrop
