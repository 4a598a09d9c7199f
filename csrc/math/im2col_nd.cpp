#include "math/im2col_nd.hpp"

#include <algorithm>

namespace augdrop {
namespace {

// The image offset of tap k (row-major over the kernel) at output position o (row-major over
// the output), or -1 where it falls in the padding.
int64_t TapOffset(const NdGeometry& g, int64_t k, int64_t o) {
  int64_t offset = 0, k_rest = k, o_rest = o;
  int64_t index[kMaxNdAxes], tap[kMaxNdAxes];
  for (int i = g.axes - 1; i >= 0; --i) {
    tap[i] = k_rest % g.kernel[i];
    k_rest /= g.kernel[i];
    index[i] = o_rest % g.out(i);
    o_rest /= g.out(i);
  }
  for (int i = 0; i < g.axes; ++i) {
    const int64_t x = index[i] * g.stride[i] - g.pad[i] + tap[i] * g.dilation[i];
    if (x < 0 || x >= g.size[i]) return -1;
    offset = offset * g.size[i] + x;
  }
  return offset;
}

}  // namespace

int64_t NdGeometry::kernel_count() const {
  int64_t n = 1;
  for (int i = 0; i < axes; ++i) n *= kernel[i];
  return n;
}
int64_t NdGeometry::out_count() const {
  int64_t n = 1;
  for (int i = 0; i < axes; ++i) n *= out(i);
  return n;
}
int64_t NdGeometry::image_count() const {
  int64_t n = 1;
  for (int i = 0; i < axes; ++i) n *= size[i];
  return n;
}

void im2col_nd_cpu(const float* image, const NdGeometry& g, float* columns) {
  const int64_t taps = g.kernel_count(), outs = g.out_count(), pixels = g.image_count();
  for (int64_t k = 0; k < taps; ++k)
    for (int64_t o = 0; o < outs; ++o) {
      const int64_t offset = TapOffset(g, k, o);
      for (int64_t c = 0; c < g.channels; ++c)
        columns[(c * taps + k) * outs + o] = offset < 0 ? 0.f : image[c * pixels + offset];
    }
}

void col2im_nd_cpu(const float* columns, const NdGeometry& g, float* image) {
  const int64_t taps = g.kernel_count(), outs = g.out_count(), pixels = g.image_count();
  std::fill(image, image + g.channels * pixels, 0.f);
  for (int64_t k = 0; k < taps; ++k)
    for (int64_t o = 0; o < outs; ++o) {
      const int64_t offset = TapOffset(g, k, o);
      if (offset < 0) continue;
      for (int64_t c = 0; c < g.channels; ++c)
        image[c * pixels + offset] += columns[(c * taps + k) * outs + o];
    }
}

}  // namespace augdrop
