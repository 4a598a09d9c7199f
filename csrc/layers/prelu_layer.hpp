// PReLU: a ReLU whose negative slope is learned, per channel or shared (Caffe's
// prelu_layer.cpp). bottom, top: (N, C, ...), at least 2 axes; in place allowed.
// blobs: 0 = slopes a, (C) or a scalar (channel_shared).
#pragma once

#include <vector>

#include "layers/neuron_layer.hpp"

namespace augdrop {

/**
 * @brief y = max(x, 0) + a[c] * min(x, 0).
 *
 * prelu_param: filler (default constant 0.25), channel_shared (false).
 * Backward: da[c] += sum_{n, i} dy * x * [x <= 0]; dx = dy * ([x > 0] + a[c] [x <= 0]).
 * In place, the bottom data is kept in a copy for the backward pass, as Caffe does.
 */
class PReLULayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "PReLU"; }
  AD_NEURON_METHODS

 private:
  bool channel_shared_ = false;
  Blob bottom_memory_;  // in place: the bottom data of the forward pass
};

}  // namespace augdrop
