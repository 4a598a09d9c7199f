#include "layers/accuracy_layer.hpp"

#include <algorithm>

namespace augdrop {

void AccuracyLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("accuracy_param");
  top_k_ = p.get_int("top_k", 1);
  has_ignore_label_ = p.has("ignore_label");
  if (has_ignore_label_) ignore_label_ = int(p.get_int("ignore_label", 0));
}

void AccuracyLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("accuracy_param");
  AD_CHECK(bottom[1]->count() > 0 && top_k_ <= bottom[0]->count() / bottom[1]->count(),
           "top_k must be less than or equal to the number of classes (top_k "
               << top_k_ << ", scores " << bottom[0]->shape_string() << ", labels "
               << bottom[1]->shape_string() << ")");
  label_axis_ = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  outer_num_ = bottom[0]->count(0, label_axis_);
  inner_num_ = bottom[0]->count(label_axis_ + 1);
  AD_CHECK(outer_num_ * inner_num_ == bottom[1]->count(),
           "Number of labels must match number of predictions; e.g., if label axis == 1 and "
           "prediction shape is (N, C, H, W), label count (number of labels) must be N*H*W, "
           "with integer values in {0, 1, ..., C-1}. Got prediction shape "
               << bottom[0]->shape_string() << " with label axis " << label_axis_ << " ("
               << outer_num_ * inner_num_ << " predictions) and " << bottom[1]->count()
               << " labels of shape " << bottom[1]->shape_string());
  top[0]->Reshape({});
  if (top.size() > 1) {
    const int64_t num_labels = bottom[0]->shape(label_axis_);
    top[1]->Reshape({num_labels});
    nums_buffer_.assign(size_t(num_labels), 0.f);
  }
}

void AccuracyLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* scores = bottom[0]->cpu_data();  // (outer, C, inner)
  const float* label = bottom[1]->cpu_data();   // (outer * inner)
  const int64_t dim = bottom[0]->count() / outer_num_;
  const int64_t num_labels = bottom[0]->shape(label_axis_);
  const bool per_class = top.size() > 1;
  float* per_class_acc = nullptr;
  if (per_class) {
    std::fill(nums_buffer_.begin(), nums_buffer_.end(), 0.f);
    per_class_acc = top[1]->mutable_cpu_data();
    for (int64_t c = 0; c < num_labels; ++c) per_class_acc[c] = 0.f;
  }
  float accuracy = 0.f;
  int64_t count = 0;
  for (int64_t i = 0; i < outer_num_; ++i) {
    for (int64_t j = 0; j < inner_num_; ++j) {
      const int label_value = static_cast<int>(label[i * inner_num_ + j]);
      if (has_ignore_label_ && label_value == ignore_label_) continue;
      AD_CHECK(label_value >= 0 && label_value < num_labels,
               "label value " << label_value << " (label index " << i * inner_num_ + j
                              << ") out of range: must be in [0, " << num_labels << ")");
      if (per_class) ++nums_buffer_[size_t(label_value)];
      const float true_score = scores[i * dim + label_value * inner_num_ + j];
      // The true class itself also counts as "better or equal", hence the start at -1.
      int64_t num_better_predictions = -1;
      for (int64_t k = 0; k < num_labels && num_better_predictions < top_k_; ++k)
        num_better_predictions += (scores[i * dim + k * inner_num_ + j] >= true_score);
      if (num_better_predictions < top_k_) {
        ++accuracy;
        if (per_class) ++per_class_acc[label_value];
      }
      ++count;
    }
  }
  top[0]->mutable_cpu_data()[0] = count == 0 ? 0.f : accuracy / float(count);
  if (per_class) {
    for (int64_t c = 0; c < num_labels; ++c)
      per_class_acc[c] = nums_buffer_[size_t(c)] == 0.f ? 0.f
                                                        : per_class_acc[c] / nums_buffer_[size_t(c)];
  }
}

void AccuracyLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                 const BlobVec& bottom) {
  for (size_t i = 0; i < propagate_down.size(); ++i)
    AD_CHECK(!propagate_down[i], type() << " Layer cannot backpropagate to its inputs.");
}

}  // namespace augdrop
