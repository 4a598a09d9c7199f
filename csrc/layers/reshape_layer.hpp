// Reshape: a new shape for the bottom's data (Caffe's reshape_layer.cpp).
// reshape_param.shape gives the new dims of the bottom's axes [axis, axis + num_axes); a dim of
// 0 copies the bottom's dim at that position, a single -1 is inferred from the count.
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y = x with a new shape (reshape_param: shape, axis 0, num_axes -1 = to the end).
 *
 * No copy: the top shares the bottom's data and diff (Caffe's ShareData/ShareDiff in Reshape),
 * so forward and backward compute nothing. Not in place. No .cu twin: there is nothing to run
 * on the device (Caffe has no reshape_layer.cu either).
 */
class ReshapeLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Reshape"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override {}
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}

 private:
  std::vector<int64_t> new_dims_;  // reshape_param.shape's dims as given (0 and -1 included)
  std::vector<int> copy_axes_;     // positions in new_dims_ holding 0
  int inferred_axis_ = -1;         // the position holding -1, or -1
  int64_t constant_count_ = 1;     // product of the explicit dims
};

}  // namespace augdrop
