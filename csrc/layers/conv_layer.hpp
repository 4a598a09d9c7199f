// Convolution, 2-d, by im2col + GEMM (Caffe's base_conv_layer.cpp and conv_layer.cpp).
// bottom: (N, C, H, W); top: (N, C_out, H_out, W_out) with
// H_out = (H + 2 pad_h - (dilation_h (k_h - 1) + 1)) / stride_h + 1.
// W: (C_out, C / group, k_h, k_w); b: (C_out,).
#pragma once

#include "layers/layer.hpp"
#include "math/im2col.hpp"

namespace augdrop {

class ConvolutionLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Convolution"; }
  int MinBottomBlobs() const override { return 1; }
  int MinTopBlobs() const override { return 1; }
  bool EqualNumBottomTopBlobs() const override { return true; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;

 private:
  ConvGeometry geom_{};
  int64_t num_output_ = 0, group_ = 1;
  bool bias_term_ = true;
  bool is_1x1_ = false;       // 1x1, stride 1, pad 0: the image is its own column buffer
  int64_t kernel_dim_ = 0;    // C / group * k_h * k_w
  int64_t out_spatial_ = 0;   // H_out * W_out
  Blob col_buffer_;           // (C * k_h * k_w, H_out * W_out)
};

}  // namespace augdrop
