// AbsVal: top = |x| (Caffe's absval_layer.cpp). Backward: dx = sign(x) dy, with sign(0) = 0.
// Not in place, as in Caffe: the backward pass needs the sign of the bottom data.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class AbsValLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "AbsVal"; }
  AD_NEURON_METHODS
};

}  // namespace augdrop
