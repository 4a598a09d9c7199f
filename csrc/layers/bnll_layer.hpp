// BNLL (binomial normal log likelihood): top = log(1 + exp(x)), computed as
// x + log(1 + exp(-x)) for x > 0 so that exp never overflows (Caffe's bnll_layer.cpp).
// Backward: dx = dy * e / (e + 1), e = exp(min(x, 50)), from the bottom data (so in place
// gives a wrong gradient; Caffe does not refuse it either).
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class BNLLLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  const char* type() const override { return "BNLL"; }
  AD_NEURON_METHODS
};

// Caffe's kBNLL_THRESHOLD: the backward pass clamps x there before exp.
constexpr float kBNLLThreshold = 50.f;

}  // namespace augdrop
