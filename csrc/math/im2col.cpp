#include "math/im2col.hpp"

#include <algorithm>
#include <cstring>

namespace augdrop {
namespace {

// The output columns ow whose input column iw = ow * stride + offset lies inside [0, width).
void ValidRange(int64_t offset, int64_t stride, int64_t width, int64_t out_w, int64_t* begin,
                int64_t* end) {
  int64_t b = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t e = offset > width - 1 ? 0 : (width - 1 - offset) / stride + 1;
  *begin = std::min(b, out_w);
  *end = std::max(*begin, std::min(e, out_w));
}

}  // namespace

void im2col_cpu(const float* image, const ConvGeometry& g, float* columns, int64_t ld) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  for (int64_t c = 0; c < g.channels; ++c) {
    const float* plane = image + c * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        float* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * ld;
        const int64_t w0 = kw * g.dilation_w - g.pad_w;
        int64_t ow_begin, ow_end;
        ValidRange(w0, g.stride_w, g.width, out_w, &ow_begin, &ow_end);
        for (int64_t oh = 0; oh < out_h; ++oh) {
          float* out = row + oh * out_w;
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.height) {
            std::memset(out, 0, out_w * sizeof(float));
            continue;
          }
          const float* in = plane + ih * g.width + w0;
          std::fill(out, out + ow_begin, 0.f);
          if (g.stride_w == 1) {
            std::memcpy(out + ow_begin, in + ow_begin, (ow_end - ow_begin) * sizeof(float));
          } else {
            for (int64_t ow = ow_begin; ow < ow_end; ++ow) out[ow] = in[ow * g.stride_w];
          }
          std::fill(out + ow_end, out + out_w, 0.f);
        }
      }
    }
  }
}

void col2im_cpu(const float* columns, const ConvGeometry& g, float* image, int64_t ld) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  std::memset(image, 0, g.channels * g.height * g.width * sizeof(float));
  for (int64_t c = 0; c < g.channels; ++c) {
    float* plane = image + c * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const float* row = columns + ((c * g.kernel_h + kh) * g.kernel_w + kw) * ld;
        const int64_t w0 = kw * g.dilation_w - g.pad_w;
        int64_t ow_begin, ow_end;
        ValidRange(w0, g.stride_w, g.width, out_w, &ow_begin, &ow_end);
        for (int64_t oh = 0; oh < out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          float* out = plane + ih * g.width + w0;
          const float* in = row + oh * out_w;
          if (g.stride_w == 1) {
            for (int64_t ow = ow_begin; ow < ow_end; ++ow) out[ow] += in[ow];
          } else {
            for (int64_t ow = ow_begin; ow < ow_end; ++ow) out[ow * g.stride_w] += in[ow];
          }
        }
      }
    }
  }
}

}  // namespace augdrop
