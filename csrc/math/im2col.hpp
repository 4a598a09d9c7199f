// im2col / col2im for 2-d convolution, as Caffe's src/caffe/util/im2col.cpp, with a row
// stride so that several images' columns can sit side by side for one whole-batch GEMM.
// image: (channels, height, width); columns: (channels * kernel_h * kernel_w) rows of
// out_h * out_w values, row r starting at columns + r * ld (ld >= out_h * out_w).
#pragma once

#include <cstdint>

namespace augdrop {

struct ConvGeometry {
  int64_t channels, height, width;
  int64_t kernel_h, kernel_w, pad_h, pad_w, stride_h, stride_w, dilation_h, dilation_w;
  int64_t out_h() const { return (height + 2 * pad_h - (dilation_h * (kernel_h - 1) + 1)) / stride_h + 1; }
  int64_t out_w() const { return (width + 2 * pad_w - (dilation_w * (kernel_w - 1) + 1)) / stride_w + 1; }
};

void im2col_cpu(const float* image, const ConvGeometry& g, float* columns, int64_t ld);
// image is overwritten with the sum of the column entries that map onto each pixel.
void col2im_cpu(const float* columns, const ConvGeometry& g, float* image, int64_t ld);

#ifdef AUGDROP_WITH_CUDA
// The same on device memory (im2col.cu, as Caffe's src/caffe/util/im2col.cu), with the CPU
// twins' parameters; the results are bit-identical to im2col_cpu / col2im_cpu.
void im2col_gpu(const float* image, const ConvGeometry& g, float* columns, int64_t ld);
void col2im_gpu(const float* columns, const ConvGeometry& g, float* image, int64_t ld);
// `num` images in one launch: image k at images + k * image_stride, its columns at
// columns + k * column_stride (rows ld apart). Side by side for one whole-batch GEMM:
// column_stride = H_out * W_out, ld = num * H_out * W_out; stacked: column_stride =
// C * k_h * k_w * ld.
void im2col_gpu_batched(const float* images, const ConvGeometry& g, float* columns, int64_t ld,
                        int64_t num, int64_t image_stride, int64_t column_stride);
void col2im_gpu_batched(const float* columns, const ConvGeometry& g, float* images, int64_t ld,
                        int64_t num, int64_t image_stride, int64_t column_stride);
#endif

}  // namespace augdrop
