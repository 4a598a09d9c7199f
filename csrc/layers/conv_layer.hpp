// Convolution, 2-d, by im2col + GEMM (Caffe's base_conv_layer.cpp and conv_layer.cpp).
// DEVIATION: Caffe runs one GEMM per image on one thread. Here threads take chunks of images
// (a chunk's columns side by side, sized to stay in cache), each with its own buffers and its
// own weight-gradient accumulator, summed at the end: the same products, summed in another
// order, so float rounding differs in the last bits.
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
  // Per-thread buffers for the current thread count (it may change between passes).
  void EnsureThreadBuffers();

  ConvGeometry geom_{};
  int64_t num_output_ = 0, group_ = 1;
  bool bias_term_ = true;
  int64_t kernel_dim_ = 0;    // C / group * k_h * k_w
  int64_t out_spatial_ = 0;   // H_out * W_out
  int64_t chunk_ = 1;         // images per GEMM
  int threads_ = 1;
  Blob col_buffer_;           // per thread: (C * k_h * k_w, chunk * H_out * W_out)
  Blob out_buffer_;           // per thread: (C_out, chunk * H_out * W_out), channel-major
  Blob weight_diff_buffer_;   // per thread: a weight and bias gradient accumulator
};

}  // namespace augdrop
