// Input: tops shaped by input_param.shape; the data is whatever the user writes into them
// (pycaffe's net.blobs['data'].data[...] = x). Forward and backward do nothing.
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

class InputLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "Input"; }
  int ExactNumBottomBlobs() const override { return 0; }
  int MinTopBlobs() const override { return 1; }
  bool HasBackward() const override { return false; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override {}
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}
};

}  // namespace augdrop
