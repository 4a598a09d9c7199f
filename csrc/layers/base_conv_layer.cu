// BaseConvolutionLayer's per-image steps on the device (Caffe's base_conv_layer.cpp, GPU half):
// the same GEMMs as the CPU twins in base_conv_layer.cpp, with cuBLAS and im2col.cu.
#include "layers/base_conv_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void BaseConvolutionLayer::Im2colGpu(const float* image, float* columns) const {
  if (nd_) {
    im2col_nd_gpu(image, nd_geom_, columns);
  } else {
    im2col_gpu(image, geom_, columns, out_spatial_);
  }
}

void BaseConvolutionLayer::Col2imGpu(const float* columns, float* image) const {
  if (nd_) {
    col2im_nd_gpu(columns, nd_geom_, image);
  } else {
    col2im_gpu(columns, geom_, image, out_spatial_);
  }
}

void BaseConvolutionLayer::forward_gpu_gemm(const float* input, const float* weights,
                                            float* output, float* col) const {
  const int64_t per_group = conv_out_channels_ / group_, L = out_spatial_;
  Im2colGpu(input, col);
  for (int64_t g = 0; g < group_; ++g) {
    gpu_gemm(Trans::No, Trans::No, per_group, L, kernel_dim_, 1.f,
             weights + g * per_group * kernel_dim_, col + g * kernel_dim_ * L, 0.f,
             output + g * per_group * L);
  }
}

void BaseConvolutionLayer::forward_gpu_bias(float* output, const float* bias,
                                            const float* ones) const {
  // output (num_output, top_spatial) += b (num_output, 1) * ones (1, top_spatial)
  gpu_gemm(Trans::No, Trans::No, num_output_, top_spatial_, 1, 1.f, bias, ones, 1.f, output);
}

void BaseConvolutionLayer::backward_gpu_gemm(const float* output, const float* weights,
                                             float* input, float* col) const {
  const int64_t per_group = conv_out_channels_ / group_, L = out_spatial_;
  for (int64_t g = 0; g < group_; ++g) {
    gpu_gemm(Trans::Yes, Trans::No, kernel_dim_, L, per_group, 1.f,
             weights + g * per_group * kernel_dim_, output + g * per_group * L, 0.f,
             col + g * kernel_dim_ * L);
  }
  Col2imGpu(col, input);
}

void BaseConvolutionLayer::weight_gpu_gemm(const float* input, const float* output,
                                           float* weights, float* col) const {
  const int64_t per_group = conv_out_channels_ / group_, L = out_spatial_;
  Im2colGpu(input, col);
  for (int64_t g = 0; g < group_; ++g) {
    gpu_gemm(Trans::No, Trans::Yes, per_group, kernel_dim_, L, 1.f, output + g * per_group * L,
             col + g * kernel_dim_ * L, 1.f, weights + g * per_group * kernel_dim_);
  }
}

void BaseConvolutionLayer::backward_gpu_bias(float* bias, const float* top_diff,
                                             const float* ones) const {
  gpu_gemv(Trans::No, num_output_, top_spatial_, 1.f, top_diff, ones, 1.f, bias);
}

}  // namespace augdrop
