// SoftmaxWithLoss: multinomial logistic loss of the softmax of the scores
// (Caffe's softmax_loss_layer.cpp with LossLayer's defaults).
// bottom[0]: scores (outer, C, inner) around softmax_param.axis; bottom[1]: labels, outer*inner
// values in {0, ..., C-1} stored as floats; top[0]: the scalar loss (0 axes);
// optional top[1]: the probabilities, sharing the internal softmax output's data.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/loss_layer.hpp"
#include "layers/softmax_layer.hpp"

namespace augdrop {

/**
 * @brief Softmax cross-entropy loss:
 *        loss = -sum_{i,j not ignored} log(max(p[i, label(i,j), j], FLT_MIN)) / normalizer,
 *        p = softmax(scores) along softmax_param.axis.
 *
 * loss_param: ignore_label (optional: entries with that label contribute nothing),
 * normalization VALID (default) / BATCH_SIZE / FULL / NONE, or the legacy bool normalize
 * (true -> VALID, false -> BATCH_SIZE) when normalization is not given. The normalizer is
 * max(1, n) with n = non-ignored count (VALID), outer*inner (FULL), outer (BATCH_SIZE), 1 (NONE).
 *
 * Backward: dscores = (p - onehot(label)) * top_diff[0] / normalizer, zero at ignored entries.
 * The label takes no gradient. Loss weight defaults to 1 (0 for the probabilities top).
 */
class SoftmaxWithLossLayer : public LossLayer {
 public:
  using LossLayer::LossLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "SoftmaxWithLoss"; }
  int ExactNumTopBlobs() const override { return -1; }
  int MinTopBlobs() const override { return 1; }
  int MaxTopBlobs() const override { return 2; }

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
  // Reads label entry (i, j) and checks that it is a class index or the ignore label.
  int LabelAt(const float* label, int64_t i, int64_t j) const;

  std::unique_ptr<SoftmaxLayer> softmax_layer_;
  Blob prob_;  // softmax output, same shape as bottom[0]
  BlobVec softmax_bottom_vec_;
  BlobVec softmax_top_vec_;
  int softmax_axis_ = 1;
  int64_t outer_num_ = 0;
  int64_t inner_num_ = 0;
#ifdef AUGDROP_WITH_CUDA
  // GPU mode: the device sums of the loss, the non-ignored count and the first bad label,
  // one per block, then in total (read back to the host; softmax_loss_layer.cu).
  std::unique_ptr<SyncedMemory> block_sums_;
  std::unique_ptr<SyncedMemory> total_sums_;
#endif
};

}  // namespace augdrop
