// HingeLoss: the one-vs-all hinge loss of scores against an integer label (Caffe's
// hinge_loss_layer.cpp). bottom[0]: scores (N, K, ...) read as (N, D), D = count / N;
// bottom[1]: labels (N), values in [0, D); top: the scalar loss.
#pragma once

#include <vector>

#include "layers/loss_layer.hpp"

namespace augdrop {

/**
 * @brief t[n, k] = max(0, 1 - delta(k = l_n) * x[n, k]) with delta = +1 at the label and -1
 *        elsewhere; loss = sum t / N (L1, default) or sum t^2 / N (L2).
 *
 * hinge_loss_param: norm L1 / L2. Backward, s[n, k] = t[n, k] with its sign flipped at the
 * label: dx = sign(s) * top_diff / N (L1), dx = 2 s * top_diff / N (L2). The label takes no
 * gradient. DEVIATION: Caffe keeps t in bottom[0]'s diff between the two passes and reads any
 * label value as an index; here t has a buffer of its own and a label outside [0, D) is an
 * error.
 */
class HingeLossLayer : public LossLayer {
 public:
  using LossLayer::LossLayer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "HingeLoss"; }

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
  // Checks every label is a class index (read on the host).
  void CheckLabels(const float* label) const;

  bool l2_ = false;
  int64_t num_ = 0, dim_ = 0;
  Blob margins_;  // (N, D): t of the forward pass
#ifdef AUGDROP_WITH_CUDA
  Blob loss_sum_;  // GPU mode: (1), the summed t or t^2
#endif
};

}  // namespace augdrop
