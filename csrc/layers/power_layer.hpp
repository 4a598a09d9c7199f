// Power: top = (shift + scale x)^power (Caffe's power_layer.cpp, power_param power/scale/shift,
// defaults 1/1/0). Backward: dx = dy * power scale (shift + scale x)^(power - 1), computed as
// Caffe does in its special cases (power 1 or scale 0: a constant; power 2: linear; shift 0:
// power y / x; else power scale y / (shift + scale x)). Needs the bottom data.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class PowerLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Power"; }
  AD_NEURON_METHODS

 private:
  float power_ = 1, scale_ = 1, shift_ = 0;
  float diff_scale_ = 1;  // power_ * scale_
};

}  // namespace augdrop
