// ArgMax: the indices (and optionally values) of the top_k largest entries
// (Caffe's argmax_layer.cpp). Forward only, as in Caffe.
// Without axis: bottom (N, ...) flattened to (N, D); top (N, 1, top_k) or, with out_max_val,
// (N, 2, top_k) holding the indices then the values (at least 3 axes, extra ones of size 1).
// With axis: top is the bottom's shape with that axis replaced by top_k, holding the indices,
// or the values with out_max_val.
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y = the top_k (default 1) largest entries of each row, largest first, as indices
 *        (float) or values (argmax_param: out_max_val false, top_k 1, axis unset).
 *
 * Equal values are ordered as Caffe's std::partial_sort on (value, index) pairs with
 * std::greater orders them: the larger index first. No backward pass (Caffe's is
 * NOT_IMPLEMENTED); the net skips the layer in its backward pass, as it skips Accuracy.
 * DEVIATION: with force_backward Caffe calls that backward pass and aborts.
 */
class ArgMaxLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "ArgMax"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }
  bool HasBackward() const override { return false; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
#endif

 private:
  // The rows: num_ of dim_ entries each, axis_dist_ apart (1 without axis).
  void RowLayout(const Blob& bottom, int64_t* num, int64_t* dim, int64_t* axis_dist) const;

  bool out_max_val_ = false;
  int64_t top_k_ = 1;
  bool has_axis_ = false;
  int axis_ = 0;
};

}  // namespace augdrop
