// im2col_nd / col2im_nd on the device (Caffe's im2col_nd_gpu / col2im_nd_gpu): one thread per
// column entry for im2col; one thread per image pixel for col2im, gathering its taps in
// ascending order, the order in which the CPU twin adds them.
#include "core/cuda_check.hpp"
#include "math/im2col_nd.hpp"

namespace augdrop {
namespace {

__device__ int64_t OutSize(const NdGeometry& g, int i) {
  return (g.size[i] + 2 * g.pad[i] - (g.dilation[i] * (g.kernel[i] - 1) + 1)) / g.stride[i] + 1;
}

// n = channels * taps * outs threads: entry (c, k, o) of the columns.
__global__ void Im2colNdKernel(int64_t n, const float* image, NdGeometry g, int64_t taps,
                               int64_t outs, int64_t pixels, float* columns) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const int64_t o = index % outs, k = index / outs % taps, c = index / (outs * taps);
    int64_t k_rest = k, o_rest = o, offset = 0;
    int64_t x[kMaxNdAxes];
    bool inside = true;
    for (int i = g.axes - 1; i >= 0; --i) {
      const int64_t tap = k_rest % g.kernel[i], out = OutSize(g, i);
      k_rest /= g.kernel[i];
      x[i] = o_rest % out * g.stride[i] - g.pad[i] + tap * g.dilation[i];
      o_rest /= out;
      inside = inside && x[i] >= 0 && x[i] < g.size[i];
    }
    for (int i = 0; i < g.axes; ++i) offset = offset * g.size[i] + x[i];
    columns[index] = inside ? image[c * pixels + offset] : 0.f;
  }
}

// n = channels * pixels threads: pixel p of channel c sums the entries (c, k, o) whose tap k
// at output position o lands on it, k ascending.
__global__ void Col2imNdKernel(int64_t n, const float* columns, NdGeometry g, int64_t taps,
                               int64_t outs, int64_t pixels, float* image) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const int64_t p = index % pixels, c = index / pixels;
    int64_t x[kMaxNdAxes];
    int64_t rest = p;
    for (int i = g.axes - 1; i >= 0; --i) {
      x[i] = rest % g.size[i];
      rest /= g.size[i];
    }
    float sum = 0.f;
    for (int64_t k = 0; k < taps; ++k) {
      int64_t k_rest = k, o = 0;
      int64_t tap[kMaxNdAxes];
      for (int i = g.axes - 1; i >= 0; --i) {
        tap[i] = k_rest % g.kernel[i];
        k_rest /= g.kernel[i];
      }
      bool hit = true;
      for (int i = 0; i < g.axes && hit; ++i) {
        const int64_t span = x[i] + g.pad[i] - tap[i] * g.dilation[i];
        const int64_t out = OutSize(g, i);
        hit = span >= 0 && span % g.stride[i] == 0 && span / g.stride[i] < out;
        o = o * out + (hit ? span / g.stride[i] : 0);
      }
      if (hit) sum += columns[(c * taps + k) * outs + o];
    }
    image[index] = sum;
  }
}

}  // namespace

void im2col_nd_gpu(const float* image, const NdGeometry& g, float* columns) {
  const int64_t taps = g.kernel_count(), outs = g.out_count();
  const int64_t n = g.channels * taps * outs;
  if (n <= 0) return;
  Im2colNdKernel<<<CudaBlocks(n), kCudaThreads>>>(n, image, g, taps, outs, g.image_count(), columns);
  AD_CUDA_POST_KERNEL_CHECK;
}

void col2im_nd_gpu(const float* columns, const NdGeometry& g, float* image) {
  const int64_t taps = g.kernel_count(), outs = g.out_count(), pixels = g.image_count();
  const int64_t n = g.channels * pixels;
  if (n <= 0) return;
  Col2imNdKernel<<<CudaBlocks(n), kCudaThreads>>>(n, columns, g, taps, outs, pixels, image);
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
