// Tile on the GPU (Caffe's tile_layer.cu): the same formulas as tile_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/tile_layer.hpp"

namespace augdrop {
namespace {

// y[o, t, k] = x[o, k]; y: (outer, tiles, inner), x: (outer, inner).
__global__ void TileForward(int64_t n, const float* x, int64_t inner, int64_t tiles, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t k = i % inner;
    const int64_t o = i / inner / tiles;
    y[i] = x[o * inner + k];
  }
}

// dx[o, k] = sum_t dy[o, t, k], t in order (the host loop's order).
__global__ void TileBackward(int64_t n, const float* dy, int64_t inner, int64_t tiles,
                             float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t k = i % inner;
    const int64_t o = i / inner;
    const float* src = dy + o * tiles * inner + k;
    float s = src[0];
    for (int64_t t = 1; t < tiles; ++t) s += src[t * inner];
    dx[i] = s;
  }
}

}  // namespace

void TileLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = top[0]->count();
  if (n == 0) return;
  TileForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(), inner_dim_, tiles_,
                                               top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void TileLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  if (n == 0) return;
  TileBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), inner_dim_, tiles_,
                                                bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
