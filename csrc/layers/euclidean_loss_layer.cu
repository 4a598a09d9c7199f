// EuclideanLoss on the GPU (Caffe's euclidean_loss_layer.cu): the same formulas as
// euclidean_loss_layer.cpp; the dot product is cuBLAS's (its summation order, not the host's).
#include "core/cuda_check.hpp"
#include "layers/euclidean_loss_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void EuclideanLossLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = bottom[0]->count();
  float* d = diff_.mutable_gpu_data();
  gpu_copy(count, bottom[0]->gpu_data(), d);
  gpu_axpy(count, -1.f, bottom[1]->gpu_data(), d);
  const float dot = gpu_dot(count, d, d);
  top[0]->mutable_cpu_data()[0] = dot / float(bottom[0]->shape(0)) / 2.f;
}

void EuclideanLossLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                      const BlobVec& bottom) {
  for (int i = 0; i < 2; ++i) {
    if (!propagate_down[i]) continue;
    const float sign = i == 0 ? 1.f : -1.f;
    const float alpha = sign * top[0]->cpu_diff()[0] / float(bottom[i]->shape(0));
    float* dx = bottom[i]->mutable_gpu_diff();
    gpu_copy(bottom[i]->count(), diff_.gpu_data(), dx);
    gpu_scal(bottom[i]->count(), alpha, dx);
  }
}

}  // namespace augdrop
