// im2col / col2im on the GPU (Caffe's src/caffe/util/im2col.cu): im2col.cpp's column layout,
// for a batch of images in one launch. im2col: one thread per (image, channel, output pixel),
// writing its k_h * k_w column entries. col2im: one thread per image pixel, gathering the
// column entries that map onto it (no atomics), added in col2im_cpu's order (kernel row, then
// kernel column) so that the sums round as the CPU's do.
#include "core/cuda_check.hpp"
#include "math/im2col.hpp"

namespace augdrop {
namespace {

// n = num * C * H_out * W_out threads.
__global__ void Im2colKernel(int64_t n, const float* images, ConvGeometry g, int64_t out_h,
                             int64_t out_w, float* columns, int64_t ld, int64_t image_stride,
                             int64_t column_stride) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const int64_t ow = index % out_w;
    const int64_t oh = index / out_w % out_h;
    const int64_t c = index / (out_w * out_h) % g.channels;
    const int64_t k = index / (out_w * out_h * g.channels);
    const float* plane = images + k * image_stride + c * g.height * g.width;
    // Row (c, i, j) of the columns, entry (oh, ow).
    float* col = columns + k * column_stride + c * g.kernel_h * g.kernel_w * ld + oh * out_w + ow;
    const int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t ih = h0 + i * g.dilation_h;
      const bool row_inside = ih >= 0 && ih < g.height;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t iw = w0 + j * g.dilation_w;
        *col = row_inside && iw >= 0 && iw < g.width ? plane[ih * g.width + iw] : 0.f;
        col += ld;
      }
    }
  }
}

// n = num * C * H * W threads. Pixel (h, w) is tap (i, j) of output pixel (oh, ow) where
// h + pad_h = oh * stride_h + i * dilation_h (and the same across).
__global__ void Col2imKernel(int64_t n, const float* columns, ConvGeometry g, int64_t out_h,
                             int64_t out_w, float* images, int64_t ld, int64_t image_stride,
                             int64_t column_stride) {
  const int64_t extent_h = g.dilation_h * (g.kernel_h - 1) + 1;
  const int64_t extent_w = g.dilation_w * (g.kernel_w - 1) + 1;
  AD_CUDA_KERNEL_LOOP(index, n) {
    const int64_t w = index % g.width;
    const int64_t h = index / g.width % g.height;
    const int64_t c = index / (g.width * g.height) % g.channels;
    const int64_t k = index / (g.width * g.height * g.channels);
    const int64_t hp = h + g.pad_h, wp = w + g.pad_w;  // in the padded image
    // The output rows whose window [oh * stride_h, oh * stride_h + extent_h) holds hp (none
    // where hp < 0, which only a negative pad gives).
    const int64_t oh_begin = hp < extent_h ? 0 : (hp - extent_h) / g.stride_h + 1;
    const int64_t oh_end = hp < 0 ? 0 : min(hp / g.stride_h + 1, out_h);
    const int64_t ow_begin = wp < extent_w ? 0 : (wp - extent_w) / g.stride_w + 1;
    const int64_t ow_end = wp < 0 ? 0 : min(wp / g.stride_w + 1, out_w);
    const float* col = columns + k * column_stride + c * g.kernel_h * g.kernel_w * ld;
    float sum = 0.f;
    // Descending output rows and columns are ascending kernel rows and columns.
    for (int64_t oh = oh_end - 1; oh >= oh_begin; --oh) {
      const int64_t dh = hp - oh * g.stride_h;
      if (dh % g.dilation_h != 0) continue;
      const int64_t i = dh / g.dilation_h;
      for (int64_t ow = ow_end - 1; ow >= ow_begin; --ow) {
        const int64_t dw = wp - ow * g.stride_w;
        if (dw % g.dilation_w != 0) continue;
        const int64_t j = dw / g.dilation_w;
        sum += col[(i * g.kernel_w + j) * ld + oh * out_w + ow];
      }
    }
    images[k * image_stride + (c * g.height + h) * g.width + w] = sum;
  }
}

}  // namespace

void im2col_gpu_batched(const float* images, const ConvGeometry& g, float* columns, int64_t ld,
                        int64_t num, int64_t image_stride, int64_t column_stride) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  const int64_t n = num * g.channels * out_h * out_w;
  if (n <= 0) return;
  Im2colKernel<<<CudaBlocks(n), kCudaThreads>>>(n, images, g, out_h, out_w, columns, ld,
                                                image_stride, column_stride);
  AD_CUDA_POST_KERNEL_CHECK;
}

void col2im_gpu_batched(const float* columns, const ConvGeometry& g, float* images, int64_t ld,
                        int64_t num, int64_t image_stride, int64_t column_stride) {
  const int64_t n = num * g.channels * g.height * g.width;
  if (n <= 0) return;
  Col2imKernel<<<CudaBlocks(n), kCudaThreads>>>(n, columns, g, g.out_h(), g.out_w(), images, ld,
                                                image_stride, column_stride);
  AD_CUDA_POST_KERNEL_CHECK;
}

void im2col_gpu(const float* image, const ConvGeometry& g, float* columns, int64_t ld) {
  im2col_gpu_batched(image, g, columns, ld, 1, 0, 0);
}

void col2im_gpu(const float* columns, const ConvGeometry& g, float* image, int64_t ld) {
  col2im_gpu_batched(columns, g, image, ld, 1, 0, 0);
}

}  // namespace augdrop
