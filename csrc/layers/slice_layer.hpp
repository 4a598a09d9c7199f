// Slice: the bottom cut along one axis into several tops (Caffe's slice_layer.cpp), the inverse
// of Concat. bottom: (..., C, ...); top[i]: (..., c_i, ...), sum_i c_i = C.
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y_i = x[..., p_{i-1}:p_i, ...] along slice_param.axis (default 1; negative counts from
 *        the end) or the legacy slice_dim (non-negative only; not both).
 *
 * slice_point: the T-1 increasing cut points of T tops; without it the axis is split evenly
 * (it must divide by T). Backward: dx = the tops' diffs put back in place. One top: it shares
 * the bottom's data and diff (Caffe's ShareData/ShareDiff), nothing is copied.
 */
class SliceLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Slice"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int MinTopBlobs() const override { return 1; }

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
  std::vector<int64_t> slice_point_;
  int slice_axis_ = 1;
  int64_t num_slices_ = 0;  // count of the axes before the slice axis
  int64_t slice_size_ = 0;  // count of the axes after it
};

}  // namespace augdrop
