// ELU: top = max(x, 0) + alpha (exp(min(x, 0)) - 1) (Caffe's elu_layer.cpp, elu_param.alpha,
// default 1). Backward: dx = dy for x > 0, dy (y + alpha) otherwise.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class ELULayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "ELU"; }
  AD_NEURON_METHODS

 private:
  float alpha_ = 1;
};

}  // namespace augdrop
