#include "layers/sigmoid_cross_entropy_loss_layer.hpp"

#include <cmath>
#include <string>

#include "math/math_functions.hpp"

namespace augdrop {

void SigmoidCrossEntropyLossLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::LayerSetUp(bottom, top);
  Params sigmoid_param = layer_param_;
  sigmoid_param.set("type", std::string("Sigmoid"));
  sigmoid_param.fields.erase("loss_weight");
  sigmoid_layer_ = std::make_unique<SigmoidLayer>(sigmoid_param, phase_);
  sigmoid_bottom_vec_ = {bottom[0]};
  sigmoid_top_vec_ = {&sigmoid_output_};
  sigmoid_layer_->SetUp(sigmoid_bottom_vec_, sigmoid_top_vec_);
  ReadLossParam(LossNormalization::BATCH_SIZE);
}

void SigmoidCrossEntropyLossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::Reshape(bottom, top);
  outer_num_ = bottom[0]->shape(0);
  inner_num_ = bottom[0]->count(1);
  AD_CHECK(bottom[0]->count() == bottom[1]->count(),
           "SIGMOID_CROSS_ENTROPY_LOSS layer inputs must have the same count ("
               << bottom[0]->shape_string() << " and " << bottom[1]->shape_string() << ")");
  sigmoid_layer_->Reshape(sigmoid_bottom_vec_, sigmoid_top_vec_);
}

void SigmoidCrossEntropyLossLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  sigmoid_bottom_vec_[0] = bottom[0];
  sigmoid_layer_->Forward(sigmoid_bottom_vec_, sigmoid_top_vec_);
  const float* x = bottom[0]->cpu_data();  // (N, ...)
  const float* t = bottom[1]->cpu_data();  // same count
  const int64_t count = bottom[0]->count();
  int64_t valid_count = 0;
  float loss = 0.f;
  for (int64_t i = 0; i < count; ++i) {
    if (has_ignore_label_ && static_cast<int>(t[i]) == ignore_label_) continue;
    const float pos = x[i] >= 0 ? 1.f : 0.f;
    loss -= x[i] * (t[i] - pos) - std::log(1.f + std::exp(x[i] - 2.f * x[i] * pos));
    ++valid_count;
  }
  normalizer_ = GetNormalizer(outer_num_, inner_num_, valid_count);
  top[0]->mutable_cpu_data()[0] = loss / normalizer_;
}

void SigmoidCrossEntropyLossLayer::Backward_cpu(const BlobVec& top,
                                                const std::vector<bool>& propagate_down,
                                                const BlobVec& bottom) {
  CheckNoLabelGradient(propagate_down);
  if (!propagate_down[0]) return;
  const int64_t count = bottom[0]->count();
  const float* p = sigmoid_output_.cpu_data();
  const float* t = bottom[1]->cpu_data();
  float* dx = bottom[0]->mutable_cpu_diff();
  for (int64_t i = 0; i < count; ++i) dx[i] = p[i] - t[i];
  if (has_ignore_label_) {
    for (int64_t i = 0; i < count; ++i)
      if (static_cast<int>(t[i]) == ignore_label_) dx[i] = 0.f;
  }
  cpu_scal(count, top[0]->cpu_diff()[0] / normalizer_, dx);
}

}  // namespace augdrop
