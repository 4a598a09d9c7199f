// What Convolution and Deconvolution share (Caffe's base_conv_layer.cpp): the reader of
// convolution_param, the weights and bias, the shapes, and Caffe's per-image im2col + GEMM steps.
// Both layers are one linear map seen from its two ends: the GEMM's "conv input" (C_in, H, W)
// goes through im2col with the geometry geom_ to the "conv output" (C_out, H_out, W_out).
// Convolution: bottom = conv input, top = conv output. Deconvolution (reverse_dimensions()):
// bottom = conv output, top = conv input, so its forward pass is Convolution's data gradient.
// W: (C_out, C_in / group, k_h, k_w), b: (num_output,) added to the top.
// Convolution: C_in = bottom channels, C_out = num_output.
// Deconvolution: C_in = num_output, C_out = bottom channels.
// Spatial axes: a 4-d bottom (N, C, H, W) takes the 2-d code (geom_; Convolution's fast
// engines), also when given in the N-d way (kernel_size twice) or with force_nd_im2col, whose
// columns are the same there. Other bottoms (N, C, d_1 ... d_k), k from 1 to 6, take the N-d
// path (nd_geom_, math/im2col_nd.hpp) with kernel_size/pad/stride/dilation given once or once
// per axis, as Caffe's N-d convolution.
#pragma once

#include <vector>

#include "layers/layer.hpp"
#include "math/im2col.hpp"
#include "math/im2col_nd.hpp"

namespace augdrop {

// convolution_param's kernel_size/pad/stride/dilation (once for both axes, or once per axis) or
// kernel_h/kernel_w, pad_h/pad_w, stride_h/stride_w; the channels and sizes are left unset.
// Also Im2col's reader. Errors for a kernel, stride or dilation below 1, and for N-d forms.
ConvGeometry ReadConvGeometry(const Params& conv_param);
// The same for `axes` spatial axes (kernel_h and the like are 2-d only); sizes left unset.
NdGeometry ReadNdGeometry(const Params& conv_param, int axes);

class BaseConvolutionLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  int MinBottomBlobs() const override { return 1; }
  int MinTopBlobs() const override { return 1; }
  bool EqualNumBottomTopBlobs() const override { return true; }

 protected:
  // True for Deconvolution: the bottom is the conv output, the top the conv input.
  virtual bool reverse_dimensions() const = 0;
  // The top's (H, W) from the bottom's.
  virtual void compute_output_shape(int64_t in_h, int64_t in_w, int64_t* out_h,
                                    int64_t* out_w) const = 0;

  // Caffe's steps for one image (one group after another). col: scratch for the columns,
  // kernel_dim_ * group_ * out_spatial_ floats.
  // output (C_out, out_spatial) = W * im2col(input)
  void forward_cpu_gemm(const float* input, const float* weights, float* output, float* col) const;
  // output (num_output, top_spatial) += b
  void forward_cpu_bias(float* output, const float* bias) const;
  // input (C_in, H, W) = col2im(W^T * output)
  void backward_cpu_gemm(const float* output, const float* weights, float* input, float* col) const;
  // weights (C_out, kernel_dim) += output * im2col(input)^T
  void weight_cpu_gemm(const float* input, const float* output, float* weights, float* col) const;
  // bias (num_output,) += the row sums of top_diff (num_output, top_spatial)
  void backward_cpu_bias(float* bias, const float* top_diff) const;
#ifdef AUGDROP_WITH_CUDA
  // The same on the device (base_conv_layer.cu); ones: top_spatial_ ones for the bias GEMMs.
  void forward_gpu_gemm(const float* input, const float* weights, float* output, float* col) const;
  void forward_gpu_bias(float* output, const float* bias, const float* ones) const;
  void backward_gpu_gemm(const float* output, const float* weights, float* input, float* col) const;
  void weight_gpu_gemm(const float* input, const float* output, float* weights, float* col) const;
  void backward_gpu_bias(float* bias, const float* top_diff, const float* ones) const;
#endif

  // im2col of the conv input (Convolution: the bottom), 2-d or N-d
  void Im2colCpu(const float* image, float* columns) const;
  void Col2imCpu(const float* columns, float* image) const;
#ifdef AUGDROP_WITH_CUDA
  void Im2colGpu(const float* image, float* columns) const;
  void Col2imGpu(const float* columns, float* image) const;
#endif

  bool nd_ = false;               // not a 4-d bottom: the N-d path
  ConvGeometry geom_{};           // 2-d: im2col of the conv input
  NdGeometry nd_geom_{};          // N-d: the same
  int64_t num_output_ = 0, group_ = 1;
  bool bias_term_ = true;
  bool force_nd_im2col_ = false;  // accepted; the 2-d im2col gives the same columns
  int64_t conv_in_channels_ = 0, conv_out_channels_ = 0;
  int64_t kernel_dim_ = 0;    // C_in / group * k_h * k_w
  int64_t out_spatial_ = 0;   // the conv output's pixels, H_out * W_out (N-d: their product)
  int64_t top_spatial_ = 0;   // the top's pixels (where the bias goes)
  int64_t bottom_dim_ = 0, top_dim_ = 0;  // per image
};

}  // namespace augdrop
