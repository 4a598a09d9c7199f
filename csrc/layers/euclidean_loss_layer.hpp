// EuclideanLoss: half the mean squared distance between two blobs (Caffe's
// euclidean_loss_layer.cpp). bottom[0], bottom[1]: (N, ...) with the same count(1);
// top: the scalar loss.
#pragma once

#include <vector>

#include "layers/loss_layer.hpp"

namespace augdrop {

/**
 * @brief loss = 1/(2N) * sum_i (a_i - b_i)^2, N = bottom[0]->shape(0).
 *
 * Backward: da = top_diff * (a - b) / N, db = -top_diff * (a - b) / N. Unlike the other loss
 * layers both bottoms take a gradient (a regression target may itself be computed).
 */
class EuclideanLossLayer : public LossLayer {
 public:
  using LossLayer::LossLayer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "EuclideanLoss"; }
  bool AllowForceBackward(int bottom_index) const override { return true; }

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
  Blob diff_;  // a - b, bottom[0]'s shape; kept for the backward pass
};

}  // namespace augdrop
