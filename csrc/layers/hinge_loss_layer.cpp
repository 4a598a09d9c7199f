#include "layers/hinge_loss_layer.hpp"

#include <algorithm>
#include <string>

#include "math/math_functions.hpp"

namespace augdrop {

void HingeLossLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::LayerSetUp(bottom, top);
  const std::string norm = layer_param_.get_message("hinge_loss_param").get_string("norm", "L1");
  AD_CHECK(norm == "L1" || norm == "L2", "Unknown Norm: " << norm);
  l2_ = norm == "L2";
}

void HingeLossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::Reshape(bottom, top);
  num_ = bottom[0]->shape(0);
  dim_ = num_ > 0 ? bottom[0]->count() / num_ : 0;
  AD_CHECK(bottom[1]->count() == num_,
           "HingeLoss takes one label per example: " << bottom[1]->shape_string() << " for "
                                                     << bottom[0]->shape_string());
  margins_.Reshape({num_, dim_});
}

void HingeLossLayer::CheckLabels(const float* label) const {
  for (int64_t n = 0; n < num_; ++n) {
    const int value = static_cast<int>(label[n]);
    AD_CHECK(value >= 0 && value < dim_, "label value " << value << " (label index " << n
                                                        << ") out of range: must be in [0, "
                                                        << dim_ << ")");
  }
}

void HingeLossLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();  // (N, D)
  const float* label = bottom[1]->cpu_data();
  CheckLabels(label);
  float* t = margins_.mutable_cpu_data();
  const int64_t count = num_ * dim_;
  cpu_copy(count, x, t);
  for (int64_t n = 0; n < num_; ++n) t[n * dim_ + static_cast<int>(label[n])] *= -1.f;
  for (int64_t i = 0; i < count; ++i) t[i] = std::max(0.f, 1.f + t[i]);
  const float sum = l2_ ? cpu_dot(count, t, t) : cpu_asum(count, t);
  top[0]->mutable_cpu_data()[0] = sum / float(num_);
}

void HingeLossLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  CheckNoLabelGradient(propagate_down);
  if (!propagate_down[0]) return;
  const float* label = bottom[1]->cpu_data();
  const int64_t count = num_ * dim_;
  float* dx = bottom[0]->mutable_cpu_diff();
  cpu_copy(count, margins_.cpu_data(), dx);
  for (int64_t n = 0; n < num_; ++n) dx[n * dim_ + static_cast<int>(label[n])] *= -1.f;
  const float loss_weight = top[0]->cpu_diff()[0];
  if (l2_) {
    cpu_scal(count, loss_weight * 2.f / float(num_), dx);
  } else {
    for (int64_t i = 0; i < count; ++i) dx[i] = float((0.f < dx[i]) - (dx[i] < 0.f));
    cpu_scal(count, loss_weight / float(num_), dx);
  }
}

}  // namespace augdrop
