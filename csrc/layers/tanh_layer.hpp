// TanH: top = tanh(x) (Caffe's tanh_layer.cpp). Backward: dx = dy (1 - y^2), from the top
// data, so it works in place.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class TanHLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  const char* type() const override { return "TanH"; }
  AD_NEURON_METHODS
};

}  // namespace augdrop
