// LRN: local response normalization (Caffe's lrn_layer.cpp). bottom, top: (N, C, H, W).
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y = x * scale^-beta,  scale = base + coef * sum_{window} x^2.
 *
 * ACROSS_CHANNELS (default): the window is local_size channels centred on c (clipped to
 * [0, C)), base = k, coef = alpha / local_size: Caffe's (k + alpha/n * sum x^2)^beta.
 * WITHIN_CHANNEL: the window is local_size x local_size pixels centred on (h, w), base = 1,
 * coef = alpha / local_size^2 (k is not used). DEVIATION: Caffe builds WITHIN_CHANNEL from
 * internal Split, Power (x^2), AVE Pooling (pad (n-1)/2, which divides by n^2 everywhere),
 * Power ((1 + alpha s)^-beta) and Eltwise PROD layers; here the same formula is computed
 * directly, so results agree to rounding.
 *
 * Backward (both): dx = dy * scale^-beta
 *                       - 2 * coef * beta * x * sum_{window} (dy * y / scale),
 * the windows being symmetric. lrn_param: local_size (5, odd), alpha (1), beta (0.75), k (1),
 * norm_region.
 */
class LRNLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "LRN"; }
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
  bool within_channel_ = false;
  int size_ = 5;
  float alpha_ = 1.f, beta_ = 0.75f, k_ = 1.f;
  float base_ = 1.f, coef_ = 0.2f;  // scale = base_ + coef_ * window sum of x^2
  int64_t num_ = 0, channels_ = 0, height_ = 0, width_ = 0;
  Blob scale_;  // (N, C, H, W): kept from the forward pass for the backward pass
  Blob ratio_;  // (N, C, H, W): backward scratch, dy * y / scale
};

}  // namespace augdrop
