// AbsVal on the GPU (Caffe's absval_layer.cu): the same formulas as absval_layer.cpp.
#include "core/cuda_check.hpp"
#include "layers/absval_layer.hpp"

namespace augdrop {
namespace {

__global__ void AbsValForward(int64_t n, const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = fabsf(x[i]);
}

__global__ void AbsValBackward(int64_t n, const float* dy, const float* x, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, n) dx[i] = float((0.f < x[i]) - (x[i] < 0.f)) * dy[i];
}

}  // namespace

void AbsValLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  AbsValForward<<<CudaBlocks(n), kCudaThreads>>>(n, bottom[0]->gpu_data(),
                                                 top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void AbsValLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                               const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  AbsValBackward<<<CudaBlocks(n), kCudaThreads>>>(n, top[0]->gpu_diff(), bottom[0]->gpu_data(),
                                                  bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
