#include "layers/softmax_layer.hpp"

#include <algorithm>
#include <cmath>

namespace augdrop {

void SoftmaxLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("softmax_param");
  softmax_axis_ = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  top[0]->ReshapeLike(*bottom[0]);
  outer_num_ = bottom[0]->count(0, softmax_axis_);
  channels_ = bottom[0]->shape(softmax_axis_);
  inner_num_ = bottom[0]->count(softmax_axis_ + 1);
  scale_.assign(size_t(inner_num_), 0.f);
}

void SoftmaxLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();  // (outer, C, inner)
  float* y = top[0]->mutable_cpu_data();   // (outer, C, inner); may alias x
  const int64_t dim = channels_ * inner_num_;
  float* scale = scale_.data();
  for (int64_t i = 0; i < outer_num_; ++i) {
    const float* xi = x + i * dim;
    float* yi = y + i * dim;
    // Max along the axis, starting from channel 0 as Caffe does.
    for (int64_t k = 0; k < inner_num_; ++k) scale[k] = xi[k];
    for (int64_t c = 0; c < channels_; ++c)
      for (int64_t k = 0; k < inner_num_; ++k)
        scale[k] = std::max(scale[k], xi[c * inner_num_ + k]);
    // exp(x - max), in float as caffe_exp.
    for (int64_t c = 0; c < channels_; ++c)
      for (int64_t k = 0; k < inner_num_; ++k)
        yi[c * inner_num_ + k] = std::exp(xi[c * inner_num_ + k] - scale[k]);
    // Sum along the axis, then divide.
    for (int64_t k = 0; k < inner_num_; ++k) scale[k] = 0.f;
    for (int64_t c = 0; c < channels_; ++c)
      for (int64_t k = 0; k < inner_num_; ++k) scale[k] += yi[c * inner_num_ + k];
    for (int64_t c = 0; c < channels_; ++c)
      for (int64_t k = 0; k < inner_num_; ++k) yi[c * inner_num_ + k] /= scale[k];
  }
}

void SoftmaxLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* y = top[0]->cpu_data();      // (outer, C, inner)
  const float* dy = top[0]->cpu_diff();     // (outer, C, inner)
  float* dx = bottom[0]->mutable_cpu_diff();  // (outer, C, inner); may alias dy
  const int64_t dim = channels_ * inner_num_;
  float* dot = scale_.data();
  for (int64_t i = 0; i < outer_num_; ++i) {
    const float* yi = y + i * dim;
    const float* dyi = dy + i * dim;
    float* dxi = dx + i * dim;
    // dot_k = sum_c dy_{c,k} * y_{c,k}
    for (int64_t k = 0; k < inner_num_; ++k) {
      float s = 0.f;
      for (int64_t c = 0; c < channels_; ++c) s += dyi[c * inner_num_ + k] * yi[c * inner_num_ + k];
      dot[k] = s;
    }
    // dx = (dy - dot) * y
    for (int64_t c = 0; c < channels_; ++c)
      for (int64_t k = 0; k < inner_num_; ++k) {
        const int64_t idx = c * inner_num_ + k;
        dxi[idx] = (dyi[idx] - dot[k]) * yi[idx];
      }
  }
}

}  // namespace augdrop
