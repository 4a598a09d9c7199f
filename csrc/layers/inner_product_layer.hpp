// InnerProduct: top = bottom * W^T + b over the whole batch in one GEMM
// (Caffe's inner_product_layer.cpp).
// bottom: (M, K) after flattening axes [axis, end) into K; top: bottom.shape[:axis] + (N,).
// W: (N, K), or (K, N) with transpose: true; b: (N,).
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

class InnerProductLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "InnerProduct"; }
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
  int64_t M_ = 0, K_ = 0, N_ = 0;
  int axis_ = 1;
  bool bias_term_ = true;
  bool transpose_ = false;
};

}  // namespace augdrop
