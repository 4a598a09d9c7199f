// Clip: top = max(min, min(x, max)) (Caffe's clip_layer.cpp; clip_param min and max are
// required fields). Backward: dx = dy where min <= x <= max, else 0. Needs the bottom data.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class ClipLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Clip"; }
  AD_NEURON_METHODS

 private:
  float min_ = 0, max_ = 0;
};

}  // namespace augdrop
