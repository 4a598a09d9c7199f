// SigmoidCrossEntropyLoss: the cross-entropy of targets in [0, 1] against the sigmoid of the
// scores (Caffe's sigmoid_cross_entropy_loss_layer.cpp). bottom[0]: scores x (N, ...);
// bottom[1]: targets t, the same count; top: the scalar loss.
#pragma once

#include <memory>
#include <vector>

#include "layers/loss_layer.hpp"
#include "layers/sigmoid_layer.hpp"

namespace augdrop {

/**
 * @brief loss = -sum_{i not ignored}
 *          [x_i (t_i - [x_i >= 0]) - log(1 + exp(x_i - 2 x_i [x_i >= 0]))] / normalizer,
 * the log-likelihood t log p + (1 - t) log(1 - p), p = sigmoid(x), in its overflow-free form.
 *
 * loss_param: ignore_label (targets whose int value equals it count for nothing),
 * normalization (default BATCH_SIZE here, as Caffe; the legacy normalize true -> VALID).
 * Backward: dx = (sigmoid(x) - t) * top_diff / normalizer, 0 at ignored targets; the target
 * takes no gradient.
 */
class SigmoidCrossEntropyLossLayer : public LossLayer {
 public:
  using LossLayer::LossLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "SigmoidCrossEntropyLoss"; }

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
  std::unique_ptr<SigmoidLayer> sigmoid_layer_;
  Blob sigmoid_output_;  // sigmoid(x), bottom[0]'s shape
  BlobVec sigmoid_bottom_vec_;
  BlobVec sigmoid_top_vec_;
  int64_t outer_num_ = 0;  // N
  int64_t inner_num_ = 0;  // count(1)
  float normalizer_ = 1.f;  // of the last forward pass, used by the backward pass
#ifdef AUGDROP_WITH_CUDA
  Blob loss_terms_;  // GPU mode: per-element loss and valid flag (1 or 0), (2, count)
  Blob loss_sums_;   // GPU mode: their two sums, (2); the count exact below 2^24 elements
#endif
};

}  // namespace augdrop
