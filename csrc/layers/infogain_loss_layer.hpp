// InfogainLoss: a softmax loss weighted by an infogain matrix H (Caffe's
// infogain_loss_layer.cpp). bottom[0]: scores (outer, K, inner) around infogain_loss_param.axis;
// bottom[1]: labels, outer*inner values in [0, K); bottom[2] (optional): H (K*K values), else
// read from infogain_loss_param.source (a BlobProto .binaryproto, loaded by the Python driver);
// top[0]: the scalar loss; optional top[1]: the probabilities.
#pragma once

#include <memory>
#include <vector>

#include "layers/loss_layer.hpp"
#include "layers/softmax_layer.hpp"

namespace augdrop {

/**
 * @brief loss = -sum_{(i,j) not ignored} sum_l H[label(i,j), l] log(max(p[i, l, j], 1e-20))
 *        / normalizer, p = softmax(scores) along axis.
 *
 * loss_param: ignore_label, normalization (VALID by default); the legacy normalize is an error,
 * as in Caffe. Backward: dscores[i, l, j] = (p[i, l, j] * sum_m H[label, m] - H[label, l])
 * * top_diff / normalizer, 0 at ignored entries. Neither the label nor H takes a gradient.
 */
class InfogainLossLayer : public LossLayer {
 public:
  using LossLayer::LossLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "InfogainLoss"; }
  int ExactNumBottomBlobs() const override { return -1; }
  int MinBottomBlobs() const override { return 2; }
  int MaxBottomBlobs() const override { return 3; }
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
  const Blob& Infogain(const BlobVec& bottom) const {
    return bottom.size() > 2 ? *bottom[2] : infogain_;
  }
  // Reads label entry (i, j) and checks that it is a class index or the ignore label.
  int LabelAt(const float* label, int64_t i, int64_t j) const;
  void CheckBackward(const std::vector<bool>& propagate_down) const;

  std::unique_ptr<SoftmaxLayer> softmax_layer_;
  Blob prob_;      // softmax output, bottom[0]'s shape
  Blob infogain_;  // H from infogain_loss_param.source, (K, K)
  Blob sum_rows_H_;  // (K): sum_m H[k, m]
  BlobVec softmax_bottom_vec_;
  BlobVec softmax_top_vec_;
  int axis_ = 1;
  int64_t outer_num_ = 0, inner_num_ = 0, num_labels_ = 0;
#ifdef AUGDROP_WITH_CUDA
  Blob loss_terms_;  // GPU mode: per-entry loss and valid flag, (2, outer * inner)
  Blob loss_sums_;   // GPU mode: their sums, (2)
#endif
};

}  // namespace augdrop
