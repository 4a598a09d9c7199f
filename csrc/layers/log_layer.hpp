// Log: top = log_base(shift + scale x) (Caffe's log_layer.cpp, log_param base/scale/shift,
// defaults -1/1/0; base -1 means e). Backward: dx = dy * scale / ((shift + scale x) ln(base)),
// from the bottom data.
#pragma once

#include "layers/neuron_layer.hpp"

namespace augdrop {

class LogLayer : public NeuronLayer {
 public:
  using NeuronLayer::NeuronLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Log"; }
  AD_NEURON_METHODS

 private:
  float base_scale_ = 1;          // 1 / ln(base)
  float input_scale_ = 1, input_shift_ = 0;
  float backward_num_scale_ = 1;  // input_scale_ * base_scale_
};

}  // namespace augdrop
