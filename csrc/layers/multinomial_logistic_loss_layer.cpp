#include "layers/multinomial_logistic_loss_layer.hpp"

#include <algorithm>
#include <cmath>

#include "math/math_functions.hpp"

namespace augdrop {

void MultinomialLogisticLossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::Reshape(bottom, top);
  AD_CHECK(bottom[1]->num_axes() <= 4 && bottom[1]->LegacyShape(1) == 1 &&
               bottom[1]->LegacyShape(2) == 1 && bottom[1]->LegacyShape(3) == 1,
           "the label must be (N) or (N, 1, 1, 1), got " << bottom[1]->shape_string());
  num_ = bottom[0]->shape(0);
  dim_ = num_ > 0 ? bottom[0]->count() / num_ : 0;
}

void MultinomialLogisticLossLayer::CheckLabels(const float* label) const {
  for (int64_t n = 0; n < num_; ++n) {
    const int value = static_cast<int>(label[n]);
    AD_CHECK(value >= 0 && value < dim_, "label value " << value << " (label index " << n
                                                        << ") out of range: must be in [0, "
                                                        << dim_ << ")");
  }
}

void MultinomialLogisticLossLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* p = bottom[0]->cpu_data();  // (N, D)
  const float* label = bottom[1]->cpu_data();
  CheckLabels(label);
  float loss = 0.f;
  for (int64_t n = 0; n < num_; ++n)
    loss -= std::log(std::max(p[n * dim_ + static_cast<int>(label[n])], 1e-20f));
  top[0]->mutable_cpu_data()[0] = loss / float(num_);
}

void MultinomialLogisticLossLayer::Backward_cpu(const BlobVec& top,
                                                const std::vector<bool>& propagate_down,
                                                const BlobVec& bottom) {
  CheckNoLabelGradient(propagate_down);
  if (!propagate_down[0]) return;
  const float* p = bottom[0]->cpu_data();
  const float* label = bottom[1]->cpu_data();
  float* dp = bottom[0]->mutable_cpu_diff();
  cpu_set(bottom[0]->count(), 0.f, dp);
  const float scale = -top[0]->cpu_diff()[0] / float(num_);
  for (int64_t n = 0; n < num_; ++n) {
    const int64_t i = n * dim_ + static_cast<int>(label[n]);
    dp[i] = scale / std::max(p[i], 1e-20f);
  }
}

}  // namespace augdrop
