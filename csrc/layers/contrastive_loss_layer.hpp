// ContrastiveLoss: the loss of Hadsell, Chopra and LeCun (2006) on pairs of feature vectors
// (Caffe's contrastive_loss_layer.cpp). bottom[0], bottom[1]: a, b (N, C) or (N, C, 1, 1);
// bottom[2]: y (N), 1 for a similar pair, 0 for a dissimilar one; top: the scalar loss.
#pragma once

#include <vector>

#include "layers/loss_layer.hpp"

namespace augdrop {

/**
 * @brief loss = 1/(2N) sum_n [ y_n d_n^2 + (1 - y_n) max(margin - d_n, 0)^2 ],
 *        d_n = ||a_n - b_n||_2; with legacy_version, the dissimilar term is
 *        max(margin - d_n^2, 0) instead.
 *
 * contrastive_loss_param: margin (1), legacy_version (false).
 * Backward (sign +1 for a, -1 for b; alpha = sign * top_diff / N):
 *   similar: alpha * (a - b);
 *   dissimilar, margin - d > 0: -alpha * (margin - d) / (d + 1e-4) * (a - b)
 *   (legacy: margin - d^2 > 0: -alpha * (a - b)); else 0.
 * a and b both take gradients; the pair label y never does.
 */
class ContrastiveLossLayer : public LossLayer {
 public:
  using LossLayer::LossLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "ContrastiveLoss"; }
  int ExactNumBottomBlobs() const override { return 3; }
  bool AllowForceBackward(int bottom_index) const override { return bottom_index != 2; }

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
  // The loss from the squared distances, on the host (as Caffe's GPU path does too).
  float LossFromDistances(int64_t num, const float* dist_sq, const float* y) const;

  float margin_ = 1.f;
  bool legacy_version_ = false;
  int64_t num_ = 0, channels_ = 0;
  Blob diff_;     // (N, C): a - b
  Blob dist_sq_;  // (N): ||a - b||^2
};

}  // namespace augdrop
