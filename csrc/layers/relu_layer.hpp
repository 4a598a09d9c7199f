// ReLU: top = max(x, 0) + negative_slope * min(x, 0) (Caffe's relu_layer.cpp).
// Works in place: the backward pass tests the sign of the bottom data, which in place is the
// top data; the sign is the same.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class ReLULayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "ReLU"; }
  AD_NEURON_METHODS

 private:
  float negative_slope_ = 0;
};

}  // namespace augdrop
