#include "layers/softmax_loss_layer.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "math/math_functions.hpp"

namespace augdrop {

void SoftmaxWithLossLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::LayerSetUp(bottom, top);

  // The internal softmax shares this layer's parameters (softmax_param) but is no loss.
  Params softmax_param = layer_param_;
  softmax_param.set("type", std::string("Softmax"));
  softmax_param.fields.erase("loss_weight");
  softmax_layer_ = std::make_unique<SoftmaxLayer>(softmax_param, phase_);
  softmax_bottom_vec_ = {bottom[0]};
  softmax_top_vec_ = {&prob_};
  softmax_layer_->SetUp(softmax_bottom_vec_, softmax_top_vec_);

  ReadLossParam(LossNormalization::VALID);
}

void SoftmaxWithLossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::Reshape(bottom, top);
  softmax_layer_->Reshape(softmax_bottom_vec_, softmax_top_vec_);
  const Params& sp = layer_param_.get_message("softmax_param");
  softmax_axis_ = bottom[0]->CanonicalAxisIndex(int(sp.get_int("axis", 1)));
  outer_num_ = bottom[0]->count(0, softmax_axis_);
  inner_num_ = bottom[0]->count(softmax_axis_ + 1);
  AD_CHECK(outer_num_ * inner_num_ == bottom[1]->count(),
           "Number of labels must match number of predictions; e.g., if softmax axis == 1 "
           "and prediction shape is (N, C, H, W), label count (number of labels) must be "
           "N*H*W, with integer values in {0, 1, ..., C-1}. Got prediction shape "
               << bottom[0]->shape_string() << " with softmax axis " << softmax_axis_
               << " (" << outer_num_ * inner_num_ << " predictions) and "
               << bottom[1]->count() << " labels of shape " << bottom[1]->shape_string());
  if (top.size() >= 2) top[1]->ReshapeLike(*bottom[0]);
}

int SoftmaxWithLossLayer::LabelAt(const float* label, int64_t i, int64_t j) const {
  const int value = static_cast<int>(label[i * inner_num_ + j]);
  if (has_ignore_label_ && value == ignore_label_) return value;
  const int64_t channels = prob_.shape(softmax_axis_);
  AD_CHECK(value >= 0 && value < channels,
           "label value " << value << " (label index " << i * inner_num_ + j
                          << ") out of range: must be in [0, " << channels << ")");
  return value;
}

void SoftmaxWithLossLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  softmax_layer_->Forward(softmax_bottom_vec_, softmax_top_vec_);
  const float* prob = prob_.cpu_data();        // (outer, C, inner)
  const float* label = bottom[1]->cpu_data();  // (outer * inner)
  const int64_t dim = prob_.count() / outer_num_;
  int64_t count = 0;
  float loss = 0.f;
  for (int64_t i = 0; i < outer_num_; ++i) {
    for (int64_t j = 0; j < inner_num_; ++j) {
      const int label_value = LabelAt(label, i, j);
      if (has_ignore_label_ && label_value == ignore_label_) continue;
      loss -= std::log(std::max(prob[i * dim + label_value * inner_num_ + j], FLT_MIN));
      ++count;
    }
  }
  top[0]->mutable_cpu_data()[0] = loss / GetNormalizer(outer_num_, inner_num_, count);
  if (top.size() == 2) top[1]->ShareData(prob_);
}

void SoftmaxWithLossLayer::Backward_cpu(const BlobVec& top,
                                        const std::vector<bool>& propagate_down,
                                        const BlobVec& bottom) {
  CheckNoLabelGradient(propagate_down);
  if (!propagate_down[0]) return;
  float* dx = bottom[0]->mutable_cpu_diff();   // (outer, C, inner)
  const float* prob = prob_.cpu_data();
  cpu_copy(prob_.count(), prob, dx);
  const float* label = bottom[1]->cpu_data();
  const int64_t dim = prob_.count() / outer_num_;
  const int64_t channels = bottom[0]->shape(softmax_axis_);
  int64_t count = 0;
  for (int64_t i = 0; i < outer_num_; ++i) {
    for (int64_t j = 0; j < inner_num_; ++j) {
      const int label_value = LabelAt(label, i, j);
      if (has_ignore_label_ && label_value == ignore_label_) {
        for (int64_t c = 0; c < channels; ++c) dx[i * dim + c * inner_num_ + j] = 0.f;
      } else {
        dx[i * dim + label_value * inner_num_ + j] -= 1.f;
        ++count;
      }
    }
  }
  const float loss_weight = top[0]->cpu_diff()[0] / GetNormalizer(outer_num_, inner_num_, count);
  cpu_scal(prob_.count(), loss_weight, dx);
}

}  // namespace augdrop
