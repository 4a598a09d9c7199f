// Exp: top = base^(shift + scale x) (Caffe's exp_layer.cpp, exp_param base/scale/shift, defaults
// -1/1/0; base -1 means e). Computed as outer * exp(inner x), inner = scale ln(base),
// outer = base^shift. Backward: dx = dy * y * inner, from the top data, so it works in place.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class ExpLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Exp"; }
  AD_NEURON_METHODS

 private:
  float inner_scale_ = 1, outer_scale_ = 1;
};

}  // namespace augdrop
