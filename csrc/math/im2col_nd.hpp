// im2col / col2im for convolution over any number of spatial axes (Caffe's im2col_nd_cpu and
// im2col_nd_gpu in src/caffe/util/im2col.{cpp,cu}), for the N-d forms of Convolution and
// Deconvolution (2-d goes through im2col.hpp's faster 2-d code).
// image: (channels, size[0], ..., size[axes-1]); columns: (channels * prod(kernel)) rows of
// prod(out) values, the kernel taps and the output positions each in row-major order:
// columns[(c, k)][o] = image[c][o_i * stride_i - pad_i + k_i * dilation_i] (0 outside).
#pragma once

#include <cstdint>

namespace augdrop {

constexpr int kMaxNdAxes = 6;

struct NdGeometry {
  int axes = 0;
  int64_t channels = 0;
  int64_t size[kMaxNdAxes] = {}, kernel[kMaxNdAxes] = {}, pad[kMaxNdAxes] = {};
  int64_t stride[kMaxNdAxes] = {}, dilation[kMaxNdAxes] = {};
  int64_t out(int i) const {
    return (size[i] + 2 * pad[i] - (dilation[i] * (kernel[i] - 1) + 1)) / stride[i] + 1;
  }
  int64_t kernel_count() const;  // prod(kernel)
  int64_t out_count() const;     // prod(out)
  int64_t image_count() const;   // prod(size)
};

void im2col_nd_cpu(const float* image, const NdGeometry& g, float* columns);
// image is overwritten with the sum of the column entries that map onto each pixel (added in
// ascending tap order, as the GPU twin adds them).
void col2im_nd_cpu(const float* columns, const NdGeometry& g, float* image);

#ifdef AUGDROP_WITH_CUDA
void im2col_nd_gpu(const float* image, const NdGeometry& g, float* columns);
void col2im_nd_gpu(const float* columns, const NdGeometry& g, float* image);
#endif

}  // namespace augdrop
