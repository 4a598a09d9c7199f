#include "layers/softmax_loss_layer.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "math/math_functions.hpp"

namespace augdrop {

void SoftmaxWithLossLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  // LossLayer::LayerSetUp: a loss layer has loss weight 1 unless told otherwise. The second
  // top (the probabilities) gets weight 0 so that SetLossWeights sees one weight per top.
  if (!layer_param_.has("loss_weight")) {
    layer_param_.add("loss_weight", 1.0);
    for (size_t i = 1; i < top.size(); ++i) layer_param_.add("loss_weight", 0.0);
  }

  // The internal softmax shares this layer's parameters (softmax_param) but is no loss.
  Params softmax_param = layer_param_;
  softmax_param.set("type", std::string("Softmax"));
  softmax_param.fields.erase("loss_weight");
  softmax_layer_ = std::make_unique<SoftmaxLayer>(softmax_param, phase_);
  softmax_bottom_vec_ = {bottom[0]};
  softmax_top_vec_ = {&prob_};
  softmax_layer_->SetUp(softmax_bottom_vec_, softmax_top_vec_);

  const Params& lp = layer_param_.get_message("loss_param");
  has_ignore_label_ = lp.has("ignore_label");
  if (has_ignore_label_) ignore_label_ = int(lp.get_int("ignore_label", 0));

  std::string mode;
  if (!lp.has("normalization") && lp.has("normalize"))
    mode = lp.get_bool("normalize", true) ? "VALID" : "BATCH_SIZE";
  else
    mode = lp.get_string("normalization", "VALID");
  if (mode == "FULL")
    normalization_ = Normalization::FULL;
  else if (mode == "VALID")
    normalization_ = Normalization::VALID;
  else if (mode == "BATCH_SIZE")
    normalization_ = Normalization::BATCH_SIZE;
  else if (mode == "NONE")
    normalization_ = Normalization::NONE;
  else
    AD_FAIL("Unknown normalization mode: " << mode);
}

void SoftmaxWithLossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  // LossLayer::Reshape
  AD_CHECK(bottom[0]->num_axes() > 0 && bottom[1]->num_axes() > 0 &&
               bottom[0]->shape(0) == bottom[1]->shape(0),
           "The data and label should have the same first dimension (data "
               << bottom[0]->shape_string() << ", label " << bottom[1]->shape_string() << ")");
  top[0]->Reshape({});
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

float SoftmaxWithLossLayer::GetNormalizer(int64_t valid_count) const {
  float normalizer = 1.f;
  switch (normalization_) {
    case Normalization::FULL:
      normalizer = float(outer_num_ * inner_num_);
      break;
    case Normalization::VALID:
      normalizer = valid_count == -1 ? float(outer_num_ * inner_num_) : float(valid_count);
      break;
    case Normalization::BATCH_SIZE:
      normalizer = float(outer_num_);
      break;
    case Normalization::NONE:
      normalizer = 1.f;
      break;
  }
  // Examples with no labels at all (multi-task setups) would otherwise divide by zero.
  return std::max(1.f, normalizer);
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
  top[0]->mutable_cpu_data()[0] = loss / GetNormalizer(count);
  if (top.size() == 2) top[1]->ShareData(prob_);
}

void SoftmaxWithLossLayer::Backward_cpu(const BlobVec& top,
                                        const std::vector<bool>& propagate_down,
                                        const BlobVec& bottom) {
  AD_CHECK(!propagate_down[1], type() << " Layer cannot backpropagate to label inputs.");
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
  const float loss_weight = top[0]->cpu_diff()[0] / GetNormalizer(count);
  cpu_scal(prob_.count(), loss_weight, dx);
}

}  // namespace augdrop
