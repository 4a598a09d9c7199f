// Concat: bottoms joined along one axis (Caffe's concat_layer.cpp).
// bottom[i]: (n_0, ..., c_i, ..., n_k), equal but at the concat axis; top: (..., sum_i c_i, ...).
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y = [x_0, x_1, ...] along concat_param.axis (default 1; negative counts from the end),
 *        or the legacy concat_param.concat_dim (non-negative only); not both.
 *
 * Backward: dx_i = the slice of dy where x_i went. One bottom: the top shares its data and
 * diff (Caffe's ShareData/ShareDiff), nothing is copied.
 */
class ConcatLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Concat"; }
  int MinBottomBlobs() const override { return 1; }
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
  int concat_axis_ = 1;
  int64_t num_concats_ = 0;        // count of the axes before the concat axis
  int64_t concat_input_size_ = 0;  // count of the axes after it
};

}  // namespace augdrop
