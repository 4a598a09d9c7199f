// LossLayer: the base of the loss layers (Caffe's include/caffe/layers/loss_layer.hpp and
// src/caffe/layers/loss_layer.cpp). Two bottoms, (predictions, labels or targets), with the same
// first dimension; one top, the scalar loss (0 axes). Top 0 has loss weight 1 unless the
// prototxt gives loss_weight; the label bottom (bottom[1]) never takes a gradient, even under
// force_backward. The loss_param helpers (normalization, ignore_label) are shared here rather
// than restated in each loss layer as Caffe does.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

// LossParameter.NormalizationMode: what the summed loss is divided by.
enum class LossNormalization { FULL, VALID, BATCH_SIZE, NONE };

class LossLayer : public Layer {
 public:
  using Layer::Layer;
  // Adds the default loss weights: 1 for top 0, 0 for any further top (e.g. probabilities).
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  // Checks bottom[0] and bottom[1] share the first dimension; top[0]: the scalar loss.
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  int ExactNumBottomBlobs() const override { return 2; }
  int ExactNumTopBlobs() const override { return 1; }
  bool AllowForceBackward(int bottom_index) const override { return bottom_index != 1; }

 protected:
  // Reads loss_param: ignore_label, and normalization, or the legacy bool normalize
  // (true -> VALID, false -> BATCH_SIZE) when normalization is absent; `fallback` when neither
  // is given (the proto default is VALID; SigmoidCrossEntropyLoss uses BATCH_SIZE).
  // allow_legacy_normalize false: `normalize` is an error (InfogainLoss).
  void ReadLossParam(LossNormalization fallback, bool allow_legacy_normalize = true);
  // Caffe's get_normalizer: max(1, n) with n = outer*inner (FULL; VALID with valid_count -1),
  // valid_count (VALID), outer (BATCH_SIZE), 1 (NONE).
  float GetNormalizer(int64_t outer_num, int64_t inner_num, int64_t valid_count) const;
  // Throws the error Caffe's backward passes give for a gradient asked of the label bottom.
  void CheckNoLabelGradient(const std::vector<bool>& propagate_down) const;

  bool has_ignore_label_ = false;
  int ignore_label_ = 0;
  LossNormalization normalization_ = LossNormalization::VALID;
};

}  // namespace augdrop
