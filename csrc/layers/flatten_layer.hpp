// Flatten: axes [axis, end_axis] of the bottom merged into one (Caffe's flatten_layer.cpp).
// bottom: (d_0, ..., d_{n-1}); top: (d_0, ..., d_{axis-1}, prod d_axis..d_end_axis, ...).
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief Reshapes the bottom, y = x with axes axis..end_axis flattened into one
 *        (flatten_param: axis 1, end_axis -1 by default; negative axes count from the end).
 *
 * No copy: the top shares the bottom's data (forward), the bottom takes the top's diff
 * (backward), as Caffe's ShareData/ShareDiff. Not in place. No .cu twin: the GPU mode runs the
 * same pointer sharing (Caffe has no flatten_layer.cu either).
 */
class FlattenLayer : public Layer {
 public:
  using Layer::Layer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Flatten"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
};

}  // namespace augdrop
