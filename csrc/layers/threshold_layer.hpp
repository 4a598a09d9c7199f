// Threshold: top = 1 if x > threshold else 0 (Caffe's threshold_layer.cpp,
// threshold_param.threshold, default 0). No gradient: Caffe's Backward is NOT_IMPLEMENTED, and
// here a backward pass that reaches it throws an error naming the layer.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class ThresholdLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Threshold"; }
  AD_NEURON_METHODS

 private:
  float threshold_ = 0;
};

}  // namespace augdrop
