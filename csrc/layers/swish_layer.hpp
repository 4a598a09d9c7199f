// Swish: top = x sigmoid(beta x) (Caffe's swish_layer.cpp, swish_param.beta, default 1).
// Backward: dx = dy (beta y + s (1 - beta y)), s = sigmoid(beta x), from the top data and s
// (kept from the forward pass), so it works in place.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class SwishLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Swish"; }
  AD_NEURON_METHODS

 private:
  float beta_ = 1;
  Blob sigmoid_;  // the bottom's shape: sigmoid(beta x), kept for backward
};

}  // namespace augdrop
