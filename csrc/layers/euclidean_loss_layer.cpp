#include "layers/euclidean_loss_layer.hpp"

#include "math/math_functions.hpp"

namespace augdrop {

void EuclideanLossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::Reshape(bottom, top);
  AD_CHECK(bottom[0]->count(1) == bottom[1]->count(1),
           "Inputs must have the same dimension (" << bottom[0]->shape_string() << " and "
                                                   << bottom[1]->shape_string() << ")");
  diff_.ReshapeLike(*bottom[0]);
}

void EuclideanLossLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = bottom[0]->count();
  const float* a = bottom[0]->cpu_data();
  const float* b = bottom[1]->cpu_data();
  float* d = diff_.mutable_cpu_data();
  for (int64_t i = 0; i < count; ++i) d[i] = a[i] - b[i];
  const float dot = cpu_dot(count, d, d);
  top[0]->mutable_cpu_data()[0] = dot / float(bottom[0]->shape(0)) / 2.f;
}

void EuclideanLossLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                      const BlobVec& bottom) {
  for (int i = 0; i < 2; ++i) {
    if (!propagate_down[i]) continue;
    const float sign = i == 0 ? 1.f : -1.f;
    const float alpha = sign * top[0]->cpu_diff()[0] / float(bottom[i]->shape(0));
    cpu_axpby(bottom[i]->count(), alpha, diff_.cpu_data(), 0.f, bottom[i]->mutable_cpu_diff());
  }
}

}  // namespace augdrop
