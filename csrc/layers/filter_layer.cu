// Filter on the GPU (Caffe's filter_layer.cu): the same copies as filter_layer.cpp, one thread
// per element, the selection (worked out on the host at Reshape) read from the device.
#include "core/cuda_check.hpp"
#include "layers/filter_layer.hpp"

namespace augdrop {
namespace {

// y[m, k] = x[selected[m], k]; y: (M, dim).
__global__ void FilterForward(int64_t n, int64_t dim, const int64_t* selected, const float* x,
                              float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = x[selected[i / dim] * dim + i % dim];
}

// dx[n, k] = dy[place[n], k], or 0 where place[n] < 0; dx: (N, dim).
__global__ void FilterBackward(int64_t n, int64_t dim, const int64_t* place, const float* dy,
                               float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t m = place[i / dim];
    dx[i] = m < 0 ? 0.f : dy[m * dim + i % dim];
  }
}

}  // namespace

void FilterLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t* selected = static_cast<const int64_t*>(selection_->gpu_data());
  for (size_t t = 0; t < top.size(); ++t) {
    const int64_t dim = bottom[t]->count(1);
    const int64_t n = num_selected_ * dim;
    if (n == 0) continue;
    FilterForward<<<CudaBlocks(n), kCudaThreads>>>(n, dim, selected, bottom[t]->gpu_data(),
                                                   top[t]->mutable_gpu_data());
    AD_CUDA_POST_KERNEL_CHECK;
  }
}

void FilterLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  AD_CHECK(!propagate_down.back(), "Filter Layer cannot backpropagate to filter index inputs");
  const int64_t* place = static_cast<const int64_t*>(selection_->gpu_data()) + num_items_;
  for (size_t t = 0; t < top.size(); ++t) {
    if (!propagate_down[t]) continue;
    const int64_t dim = bottom[t]->count(1);
    const int64_t n = num_items_ * dim;
    if (n == 0) continue;
    FilterBackward<<<CudaBlocks(n), kCudaThreads>>>(n, dim, place, top[t]->gpu_diff(),
                                                    bottom[t]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
}

}  // namespace augdrop
