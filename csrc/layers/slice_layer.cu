// Slice on the GPU (Caffe's slice_layer.cu): the same copies as slice_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/slice_layer.hpp"

namespace augdrop {
namespace {

// One top's part of the bottom: top (num_slices, c, inner) <-> bottom (num_slices, bottom_axis,
// inner) at [offset, offset + c) of the axis. forward: top <- bottom; else bottom <- top.
__global__ void SliceCopy(int64_t n, const float* in, bool forward, int64_t inner, int64_t c,
                          int64_t bottom_axis, int64_t offset, float* out) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t slab = c * inner;
    const int64_t bottom_index = (i / slab * bottom_axis + offset) * inner + i % slab;
    if (forward)
      out[i] = in[bottom_index];
    else
      out[bottom_index] = in[i];
  }
}

}  // namespace

void SliceLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  if (top.size() == 1) return;
  const float* x = bottom[0]->gpu_data();
  const int64_t bottom_axis = bottom[0]->shape(slice_axis_);
  int64_t offset = 0;
  for (Blob* t : top) {
    const int64_t c = t->shape(slice_axis_);
    const int64_t n = t->count();
    if (n > 0) {
      SliceCopy<<<CudaBlocks(n), kCudaThreads>>>(n, x, true, slice_size_, c, bottom_axis, offset,
                                                 t->mutable_gpu_data());
      AD_CUDA_POST_KERNEL_CHECK;
    }
    offset += c;
  }
}

void SliceLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  if (!propagate_down[0] || top.size() == 1) return;
  float* dx = bottom[0]->mutable_gpu_diff();
  const int64_t bottom_axis = bottom[0]->shape(slice_axis_);
  int64_t offset = 0;
  for (Blob* t : top) {
    const int64_t c = t->shape(slice_axis_);
    const int64_t n = t->count();
    if (n > 0) {
      SliceCopy<<<CudaBlocks(n), kCudaThreads>>>(n, t->gpu_diff(), false, slice_size_, c,
                                                 bottom_axis, offset, dx);
      AD_CUDA_POST_KERNEL_CHECK;
    }
    offset += c;
  }
}

}  // namespace augdrop
