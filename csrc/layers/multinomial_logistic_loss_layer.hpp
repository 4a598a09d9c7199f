// MultinomialLogisticLoss: the negative log-likelihood of given class probabilities (Caffe's
// multinomial_logistic_loss_layer.cpp). bottom[0]: probabilities (N, K, ...) read as (N, D);
// bottom[1]: labels (N) or (N, 1, 1, 1), values in [0, D); top: the scalar loss.
#pragma once

#include <vector>

#include "layers/loss_layer.hpp"

namespace augdrop {

/**
 * @brief loss = -1/N sum_n log(max(p[n, l_n], 1e-20)).
 *
 * Backward: dp[n, l_n] = -top_diff / N / max(p[n, l_n], 1e-20), 0 elsewhere. The label takes no
 * gradient. A label outside [0, D) is an error (Caffe reads it as an index unchecked).
 */
class MultinomialLogisticLossLayer : public LossLayer {
 public:
  using LossLayer::LossLayer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "MultinomialLogisticLoss"; }

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
  void CheckLabels(const float* label) const;

  int64_t num_ = 0, dim_ = 0;
#ifdef AUGDROP_WITH_CUDA
  Blob loss_sum_;  // GPU mode: (1), the summed -log terms
#endif
};

}  // namespace augdrop
