#include "layers/loss_layer.hpp"

#include <algorithm>
#include <string>

namespace augdrop {

void LossLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  if (!layer_param_.has("loss_weight")) {
    // One weight per top so that Layer::SetLossWeights sees them all: extra tops are no loss.
    layer_param_.add("loss_weight", 1.0);
    for (size_t i = 1; i < top.size(); ++i) layer_param_.add("loss_weight", 0.0);
  }
}

void LossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->num_axes() > 0 && bottom[1]->num_axes() > 0 &&
               bottom[0]->shape(0) == bottom[1]->shape(0),
           "The data and label should have the same first dimension (data "
               << bottom[0]->shape_string() << ", label " << bottom[1]->shape_string() << ")");
  top[0]->Reshape({});
}

void LossLayer::ReadLossParam(LossNormalization fallback, bool allow_legacy_normalize) {
  const Params& lp = layer_param_.get_message("loss_param");
  has_ignore_label_ = lp.has("ignore_label");
  if (has_ignore_label_) ignore_label_ = int(lp.get_int("ignore_label", 0));
  AD_CHECK(allow_legacy_normalize || !lp.has("normalize"),
           "normalize is deprecated. use \"normalization\"");
  if (!lp.has("normalization")) {
    normalization_ = lp.has("normalize")
                         ? (lp.get_bool("normalize", true) ? LossNormalization::VALID
                                                            : LossNormalization::BATCH_SIZE)
                         : fallback;
    return;
  }
  const std::string mode = lp.get_string("normalization", "VALID");
  if (mode == "FULL")
    normalization_ = LossNormalization::FULL;
  else if (mode == "VALID")
    normalization_ = LossNormalization::VALID;
  else if (mode == "BATCH_SIZE")
    normalization_ = LossNormalization::BATCH_SIZE;
  else if (mode == "NONE")
    normalization_ = LossNormalization::NONE;
  else
    AD_FAIL("Unknown normalization mode: " << mode);
}

float LossLayer::GetNormalizer(int64_t outer_num, int64_t inner_num, int64_t valid_count) const {
  float normalizer = 1.f;
  switch (normalization_) {
    case LossNormalization::FULL:
      normalizer = float(outer_num * inner_num);
      break;
    case LossNormalization::VALID:
      normalizer = valid_count == -1 ? float(outer_num * inner_num) : float(valid_count);
      break;
    case LossNormalization::BATCH_SIZE:
      normalizer = float(outer_num);
      break;
    case LossNormalization::NONE:
      normalizer = 1.f;
      break;
  }
  // Examples with no labels at all (multi-task setups) would otherwise divide by zero.
  return std::max(1.f, normalizer);
}

void LossLayer::CheckNoLabelGradient(const std::vector<bool>& propagate_down) const {
  AD_CHECK(!propagate_down[1], type() << " Layer cannot backpropagate to label inputs.");
}

}  // namespace augdrop
