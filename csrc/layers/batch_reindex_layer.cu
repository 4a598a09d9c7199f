// BatchReindex on the GPU (Caffe's batch_reindex_layer.cu). The forward is Caffe's kernel;
// the backward gives each bottom element one thread that sums the top rows picking its item,
// in m order (the host loop's order), instead of Caffe's host-sorted index lists.
#include "core/cuda_check.hpp"
#include "layers/batch_reindex_layer.hpp"

namespace augdrop {
namespace {

// y[m, k] = x[p[m], k].
__global__ void ReindexForward(int64_t n, int64_t inner, const float* x, const float* p,
                               float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = x[int64_t(p[i / inner]) * inner + i % inner];
}

// dx[b, k] = sum over m with p[m] = b of dy[m, k]; p: (M).
__global__ void ReindexBackward(int64_t n, int64_t inner, int64_t num_picks, const float* dy,
                                const float* p, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t b = i / inner, k = i % inner;
    float s = 0.f;
    for (int64_t m = 0; m < num_picks; ++m)
      if (int64_t(p[m]) == b) s += dy[m * inner + k];
    dx[i] = s;
  }
}

}  // namespace

void BatchReindexLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  CheckIndices(bottom);
  const int64_t n = top[0]->count();
  if (n == 0) return;
  ReindexForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->count(1), bottom[0]->gpu_data(),
                                                  bottom[1]->gpu_data(),
                                                  top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void BatchReindexLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                     const BlobVec& bottom) {
  AD_CHECK(!propagate_down[1], "Cannot backprop to index.");
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  if (n == 0) return;
  ReindexBackward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->count(1), bottom[1]->count(),
                                                   top[0]->gpu_diff(), bottom[1]->gpu_data(),
                                                   bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
