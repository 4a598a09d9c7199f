// Deconvolution (Caffe's deconv_layer.cpp): the adjoint of Convolution with the same
// convolution_param, so that <conv(x), y> = <x, deconv(y)> for shared weights without bias.
// Forward is Convolution's data gradient, the data gradient is Convolution's forward, and the
// weight gradient is Convolution's with bottom and top swapped (base_conv_layer.hpp).
// bottom: (N, C, H, W); top: (N, num_output, H_out, W_out) with
// H_out = stride_h (H - 1) + dilation_h (k_h - 1) + 1 - 2 pad_h.
// W: (C, num_output / group, k_h, k_w); b: (num_output,). N-d bottoms (N, C, d_1 ... d_k)
// likewise, axis by axis (base_conv_layer.hpp).
// DEVIATION: Caffe runs its images one after another; here threads take images (each with its
// own columns), and the parameter gradients are summed in reduction slots (core/parallel.hpp),
// added in slot order: the same products in another order, the same bits on any thread count.
#pragma once

#include <vector>

#include "layers/base_conv_layer.hpp"

namespace augdrop {

class DeconvolutionLayer : public BaseConvolutionLayer {
 public:
  using BaseConvolutionLayer::BaseConvolutionLayer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Deconvolution"; }

 protected:
  bool reverse_dimensions() const override { return true; }
  void compute_output_shape(int64_t in_h, int64_t in_w, int64_t* out_h,
                            int64_t* out_w) const override;
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  // Caffe's deconv_layer.cu: image by image, the same steps on the device.
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif

 private:
  Blob col_buffer_;          // per thread: (kernel_dim * group, H * W) columns
  Blob param_diff_buffer_;   // per reduction slot: a weight and bias gradient accumulator
#ifdef AUGDROP_WITH_CUDA
  Blob gpu_col_buffer_;        // (kernel_dim * group, H * W) on the device
  Blob gpu_bias_multiplier_;   // (H_out * W_out,) ones
#endif
};

}  // namespace augdrop
