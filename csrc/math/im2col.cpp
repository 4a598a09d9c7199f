#include "math/im2col.hpp"

#include <algorithm>

namespace augdrop {

void im2col_cpu(const float* image, const ConvGeometry& g, float* columns) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  for (int64_t c = 0; c < g.channels; ++c) {
    const float* plane = image + c * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        float* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * out_h * out_w;
        for (int64_t oh = 0; oh < out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          float* out = row + oh * out_w;
          if (ih < 0 || ih >= g.height) {
            std::fill(out, out + out_w, 0.f);
            continue;
          }
          const float* in = plane + ih * g.width;
          const int64_t w0 = kw * g.dilation_w - g.pad_w;
          for (int64_t ow = 0; ow < out_w; ++ow) {
            const int64_t iw = ow * g.stride_w + w0;
            out[ow] = (iw >= 0 && iw < g.width) ? in[iw] : 0.f;
          }
        }
      }
    }
  }
}

void col2im_cpu(const float* columns, const ConvGeometry& g, float* image) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  std::fill(image, image + g.channels * g.height * g.width, 0.f);
  for (int64_t c = 0; c < g.channels; ++c) {
    float* plane = image + c * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const float* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * out_h * out_w;
        for (int64_t oh = 0; oh < out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          float* out = plane + ih * g.width;
          const float* in = row + oh * out_w;
          const int64_t w0 = kw * g.dilation_w - g.pad_w;
          for (int64_t ow = 0; ow < out_w; ++ow) {
            const int64_t iw = ow * g.stride_w + w0;
            if (iw >= 0 && iw < g.width) out[iw] += in[ow];
          }
        }
      }
    }
  }
}

}  // namespace augdrop
