// BNLL on the GPU (Caffe's bnll_layer.cu): the same formulas as bnll_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/bnll_layer.hpp"

namespace augdrop {
namespace {

__global__ void BNLLForward(int64_t n, const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float v = x[i];
    y[i] = v > 0 ? v + logf(1.f + expf(-v)) : logf(1.f + expf(v));
  }
}

__global__ void BNLLBackward(int64_t n, const float* dy, const float* x, float* dx,
                             float threshold) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const float e = expf(x[i] < threshold ? x[i] : threshold);
    dx[i] = dy[i] * e / (e + 1.f);
  }
}

}  // namespace

void BNLLLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  BNLLForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                               top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void BNLLLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  BNLLBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), bottom[0]->gpu_data(),
                                                bottom[0]->mutable_gpu_diff(), kBNLLThreshold);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
