#include "layers/infogain_loss_layer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "data/dataset_registry.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void InfogainLossLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::LayerSetUp(bottom, top);
  const Params& ip = layer_param_.get_message("infogain_loss_param");
  // The internal softmax runs along infogain_loss_param.axis and is no loss.
  Params softmax_param = layer_param_;
  softmax_param.set("type", std::string("Softmax"));
  softmax_param.fields.erase("loss_weight");
  Params axis;
  axis.set("axis", ip.get_int("axis", 1));
  softmax_param.set("softmax_param", std::make_shared<Params>(axis));
  softmax_layer_ = std::make_unique<SoftmaxLayer>(softmax_param, phase_);
  softmax_bottom_vec_ = {bottom[0]};
  softmax_top_vec_ = {&prob_};
  softmax_layer_->SetUp(softmax_bottom_vec_, softmax_top_vec_);

  ReadLossParam(LossNormalization::VALID, /*allow_legacy_normalize=*/false);
  if (bottom.size() < 3) {
    AD_CHECK(ip.has("source"), "Infogain matrix source must be specified.");
    // The Python driver reads the .binaryproto and registers its values under this key.
    std::vector<int64_t> shape;
    const auto values = FindMean(ip.get_string("source", ""), &shape);
    infogain_.Reshape({int64_t(values->size())});
    std::copy(values->begin(), values->end(), infogain_.mutable_cpu_data());
  }
}

void InfogainLossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::Reshape(bottom, top);
  softmax_layer_->Reshape(softmax_bottom_vec_, softmax_top_vec_);
  axis_ = bottom[0]->CanonicalAxisIndex(
      int(layer_param_.get_message("infogain_loss_param").get_int("axis", 1)));
  outer_num_ = bottom[0]->count(0, axis_);
  inner_num_ = bottom[0]->count(axis_ + 1);
  AD_CHECK(outer_num_ * inner_num_ == bottom[1]->count(),
           "Number of labels must match number of predictions; e.g., if infogain axis == 1 "
           "and prediction shape is (N, C, H, W), label count (number of labels) must be "
           "N*H*W, with integer values in {0, 1, ..., C-1}. Got prediction shape "
               << bottom[0]->shape_string() << " with axis " << axis_ << " and "
               << bottom[1]->count() << " labels");
  num_labels_ = bottom[0]->shape(axis_);
  AD_CHECK(Infogain(bottom).count() == num_labels_ * num_labels_,
           "H must be " << num_labels_ << "x" << num_labels_ << ", got "
                        << Infogain(bottom).count() << " values");
  sum_rows_H_.Reshape({num_labels_});
  if (top.size() >= 2) top[1]->ReshapeLike(*bottom[0]);
}

int InfogainLossLayer::LabelAt(const float* label, int64_t i, int64_t j) const {
  const int value = static_cast<int>(label[i * inner_num_ + j]);
  if (has_ignore_label_ && value == ignore_label_) return value;
  AD_CHECK(value >= 0 && value < num_labels_,
           "label value " << value << " (label index " << i * inner_num_ + j
                          << ") out of range: must be in [0, " << num_labels_ << ")");
  return value;
}

void InfogainLossLayer::CheckBackward(const std::vector<bool>& propagate_down) const {
  CheckNoLabelGradient(propagate_down);
  AD_CHECK(propagate_down.size() < 3 || !propagate_down[2],
           type() << " Layer cannot backpropagate to infogain inputs.");
}

void InfogainLossLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  softmax_layer_->Forward(softmax_bottom_vec_, softmax_top_vec_);
  const float* prob = prob_.cpu_data();        // (outer, K, inner)
  const float* label = bottom[1]->cpu_data();  // (outer * inner)
  const float* H = Infogain(bottom).cpu_data();  // (K, K)
  const int64_t K = num_labels_;
  int64_t count = 0;
  float loss = 0.f;
  for (int64_t i = 0; i < outer_num_; ++i)
    for (int64_t j = 0; j < inner_num_; ++j) {
      const int l = LabelAt(label, i, j);
      if (has_ignore_label_ && l == ignore_label_) continue;
      for (int64_t k = 0; k < K; ++k)
        loss -= H[l * K + k] * std::log(std::max(prob[(i * K + k) * inner_num_ + j], 1e-20f));
      ++count;
    }
  top[0]->mutable_cpu_data()[0] = loss / GetNormalizer(outer_num_, inner_num_, count);
  if (top.size() == 2) top[1]->ShareData(prob_);
}

void InfogainLossLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                     const BlobVec& bottom) {
  CheckBackward(propagate_down);
  if (!propagate_down[0]) return;
  const float* prob = prob_.cpu_data();
  const float* label = bottom[1]->cpu_data();
  const float* H = Infogain(bottom).cpu_data();
  const int64_t K = num_labels_;
  // H may be a bottom that changes between passes: its row sums are taken each time.
  float* sum_rows = sum_rows_H_.mutable_cpu_data();
  for (int64_t r = 0; r < K; ++r) {
    float s = 0.f;
    for (int64_t c = 0; c < K; ++c) s += H[r * K + c];
    sum_rows[r] = s;
  }
  float* dx = bottom[0]->mutable_cpu_diff();  // (outer, K, inner)
  int64_t count = 0;
  for (int64_t i = 0; i < outer_num_; ++i)
    for (int64_t j = 0; j < inner_num_; ++j) {
      const int l = LabelAt(label, i, j);
      const bool ignored = has_ignore_label_ && l == ignore_label_;
      for (int64_t k = 0; k < K; ++k) {
        const int64_t at = (i * K + k) * inner_num_ + j;
        dx[at] = ignored ? 0.f : prob[at] * sum_rows[l] - H[l * K + k];
      }
      if (!ignored) ++count;
    }
  cpu_scal(bottom[0]->count(), top[0]->cpu_diff()[0] / GetNormalizer(outer_num_, inner_num_, count),
           dx);
}

}  // namespace augdrop
