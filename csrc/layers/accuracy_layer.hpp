// Accuracy: top-k classification accuracy (Caffe's accuracy_layer.cpp). No backward pass.
// bottom[0]: scores (outer, C, inner) around accuracy_param.axis; bottom[1]: labels,
// outer*inner values stored as floats; top[0]: the scalar accuracy (0 axes); optional top[1]:
// per-class accuracy (C).
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief Top-k accuracy: accuracy = (#entries whose true class is in the top k) / #counted,
 *        counting neither ignored entries nor, when nothing is counted, dividing (0 then).
 *
 * Caffe's tie rule: an entry is correct when the number of classes k' != label with
 * score[k'] >= score[label] is less than top_k, so a tie with another class counts against
 * the true class. accuracy_param: top_k (1), axis (1), ignore_label (optional).
 * Per-class accuracy (top[1]): correct / seen for each class, 0 for classes not seen.
 */
class AccuracyLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Accuracy"; }
  int ExactNumBottomBlobs() const override { return 2; }
  int MinTopBlobs() const override { return 1; }
  int MaxTopBlobs() const override { return 2; }
  bool HasBackward() const override { return false; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;

 private:
  int64_t top_k_ = 1;
  int label_axis_ = 1;
  int64_t outer_num_ = 0;
  int64_t inner_num_ = 0;
  bool has_ignore_label_ = false;
  int ignore_label_ = 0;
  std::vector<float> nums_buffer_;  // (C): entries seen per class
};

}  // namespace augdrop
