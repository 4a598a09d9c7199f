// MVN: mean-variance normalization of each image, or of each channel of each image (Caffe's
// mvn_layer.cpp). bottom: up to 4 axes, read as Caffe's (num, channels, height, width);
// top: (num, channels, height, width) (Caffe's legacy 4-axis reshape). In place allowed.
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y = (x - mean) / (sqrt(var) + eps) per row, or y = x - mean without
 *        normalize_variance; a row is one channel of one image (dim = H*W values), or one
 *        whole image with across_channels (dim = C*H*W); var = mean((x - mean)^2).
 *
 * mvn_param: normalize_variance (true), across_channels (false), eps (1e-9).
 * Backward: dx = (dy - mean(dy) - y * mean(dy * y)) / (sqrt(var) + eps), or dx = dy - mean(dy),
 * the means per row: Caffe's formula, the true gradient as eps -> 0 (it leaves out eps's
 * share of the derivative of 1 / (sqrt(var) + eps)). Each element is read before it is
 * written, so in place works (where Caffe's backward pass would read an overwritten top diff).
 */
class MVNLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "MVN"; }
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
  bool normalize_variance_ = true;
  bool across_channels_ = false;
  float eps_ = 1e-9f;
  int64_t rows_ = 0;  // num, or num * channels
  int64_t dim_ = 0;   // values per row
  Blob mean_;    // (rows): the row means of the forward pass
  Blob stddev_;  // (rows): sqrt(var) + eps of the forward pass, for the backward pass
};

}  // namespace augdrop
