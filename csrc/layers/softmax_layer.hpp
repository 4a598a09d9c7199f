// Softmax along one axis (Caffe's softmax_layer.cpp).
// bottom: (outer, C, inner) after grouping axes around softmax_param.axis; top: same shape.
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief Softmax over the axis softmax_param.axis (default 1):
 *        y_c = exp(x_c - max_k x_k) / sum_k exp(x_k - max_k x_k).
 *
 * Backward: dx_c = (dy_c - sum_k dy_k * y_k) * y_c, the sum taken along the axis.
 * Works in place: the backward pass needs only the top data.
 */
class SoftmaxLayer : public Layer {
 public:
  using Layer::Layer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Softmax"; }
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
  int softmax_axis_ = 1;
  int64_t outer_num_ = 0;  // count of the axes before the softmax axis
  int64_t channels_ = 0;   // size of the softmax axis
  int64_t inner_num_ = 0;  // count of the axes after the softmax axis
  std::vector<float> scale_;  // (inner_num_): per-position max, then sum, then dot
};

}  // namespace augdrop
