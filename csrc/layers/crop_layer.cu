// Crop on the GPU (Caffe's crop_layer.cu): the same copies as crop_layer.cpp, one thread per
// top element.
#include "core/cuda_check.hpp"
#include "layers/crop_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// layout: (3, num_axes) offsets, bottom strides, top strides. forward: y <- x at the window;
// else dx at the window <- dy.
__global__ void CropCopy(int64_t n, int num_axes, const int64_t* layout, bool forward,
                         const float* in, float* out) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const int64_t* offsets = layout;
    const int64_t* src_strides = layout + num_axes;
    const int64_t* dest_strides = layout + 2 * num_axes;
    int64_t rest = index, src = 0;
    for (int i = 0; i < num_axes; ++i) {
      const int64_t coord = rest / dest_strides[i];
      rest -= coord * dest_strides[i];
      src += src_strides[i] * (coord + offsets[i]);
    }
    if (forward)
      out[index] = in[src];
    else
      out[src] = in[index];
  }
}

}  // namespace

void CropLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = top[0]->count();
  if (n == 0) return;
  CropCopy<<<CudaBlocks(n), kCudaThreads>>>(
      n, num_axes_, static_cast<const int64_t*>(layout_->gpu_data()), true,
      bottom[0]->gpu_data(), top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void CropLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  float* dx = bottom[0]->mutable_gpu_diff();
  gpu_set(bottom[0]->count(), 0.f, dx);
  const int64_t n = top[0]->count();
  if (n == 0) return;
  CropCopy<<<CudaBlocks(n), kCudaThreads>>>(
      n, num_axes_, static_cast<const int64_t*>(layout_->gpu_data()), false, top[0]->gpu_diff(),
      dx);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
