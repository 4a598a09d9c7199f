// Silence: consumes its bottoms and produces nothing (Caffe's silence_layer.cpp), so that an
// unused blob is not a net output. Backward zeroes the bottoms' diffs.
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/** @brief No top; forward does nothing; backward sets dx = 0 for every bottom. */
class SilenceLayer : public Layer {
 public:
  using Layer::Layer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "Silence"; }
  int MinBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 0; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override {}
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override {}
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif
};

}  // namespace augdrop
