// SPP, spatial pyramid pooling (Caffe's spp_layer.cpp): pyramid_height levels of Pooling
// (spp_param.pool: MAX, AVE or STOCHASTIC), level l cutting the image into 2^l x 2^l bins with
// kernel k = ceil(H / 2^l), stride k, pad (k 2^l - H + 1) / 2 (the same for W), each level
// flattened and the levels concatenated, as Caffe's Split + Pooling + Flatten + Concat.
// bottom: (N, C, H, W); top: (N, sum over levels of C * P_h(l) * P_w(l)), P the level's pooled
// size (2^l where the padding allows); pyramid_height 1: the one level's (N, C, 1, 1).
// The bottom diff is the sum of the levels' diffs, added in level order as Caffe's Split.
#pragma once

#include <memory>
#include <vector>

#include "layers/pooling_layer.hpp"

namespace augdrop {

class SPPLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "SPP"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif

 private:
  // The Pooling layers for a bottom of (H, W), built again when the size changes.
  void BuildLevels(const Blob& bottom);

  int64_t pyramid_height_ = 0;
  std::string pool_;
  int64_t height_ = -1, width_ = -1;
  std::vector<std::unique_ptr<PoolingLayer>> levels_;
  std::vector<std::unique_ptr<Blob>> pooled_;  // level l's output (N, C, P_h, P_w)
  std::vector<int64_t> offsets_;               // level l's first column in a top row
  Blob level_diff_;                            // a level's bottom diff before it is summed
};

}  // namespace augdrop
