// DummyData: tops filled by fillers (Caffe's src/caffe/layers/dummy_data_layer.cpp). Shapes
// come from dummy_data_param.shape, or from the legacy num/channels/height/width, each given
// once for every top or once per top. data_filler is given 0 times (constant 0), once (for
// every top) or once per top. A constant-filled top is filled once at set-up; any other is
// filled again at every forward pass, drawing from the Caffe stream as the filler does.
// Host blobs only: in GPU mode the forward pass is the CPU one (SyncedMemory copies).
#pragma once

#include <vector>

#include "core/params.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class DummyDataLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "DummyData"; }
  int ExactNumBottomBlobs() const override { return 0; }
  int MinTopBlobs() const override { return 1; }
  bool HasBackward() const override { return false; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}

 private:
  std::vector<Params> fillers_;  // one, or one per top
  std::vector<bool> refill_;     // per filler: fill at every forward (not constant)
};

}  // namespace augdrop
