// Exp on the GPU (Caffe's exp_layer.cu): the same formulas as exp_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/exp_layer.hpp"

namespace augdrop {
namespace {

__global__ void ExpForward(int64_t n, const float* x, float* y, float inner, float outer) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = outer * expf(inner * x[i]);
}

__global__ void ExpBackward(int64_t n, const float* dy, const float* y, float* dx, float inner) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] * y[i] * inner;
}

}  // namespace

void ExpLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  ExpForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                              top[0]->mutable_gpu_data(), inner_scale_,
                                              outer_scale_);
  AD_CUDA_POST_KERNEL_CHECK;
}

void ExpLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  ExpBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), top[0]->gpu_data(),
                                               bottom[0]->mutable_gpu_diff(), inner_scale_);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
