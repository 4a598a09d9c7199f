// Sigmoid: top = 1 / (1 + exp(-x)), computed as 0.5 * tanh(0.5 x) + 0.5 as Caffe's
// sigmoid_layer.cpp does (no overflow for large |x|). Backward: dx = dy * y (1 - y), from the
// top data, so it works in place.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class SigmoidLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  const char* type() const override { return "Sigmoid"; }
  AD_NEURON_METHODS
};

}  // namespace augdrop
