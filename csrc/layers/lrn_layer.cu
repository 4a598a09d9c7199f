// LRN on the GPU (Caffe's lrn_layer.cu): the same formulas as lrn_layer.cpp, one thread per
// element summing its own window, in the host loops' order.
#include "core/cuda_check.hpp"
#include "layers/lrn_layer.hpp"

namespace augdrop {
namespace {

struct Geometry {
  int64_t count, channels, height, width;
  int half;  // (local_size - 1) / 2
  bool within_channel;
};

// The window sum of in (squared when square) around element i.
__device__ float WindowSumAt(const Geometry& g, const float* in, int64_t i, bool square) {
  const int64_t w = i % g.width, h = (i / g.width) % g.height;
  const int64_t c = (i / (g.width * g.height)) % g.channels;
  const int64_t plane = g.height * g.width;
  float s = 0.f;
  if (g.within_channel) {
    const float* p = in + (i / plane) * plane;
    const int64_t h0 = h - g.half > 0 ? h - g.half : 0;
    const int64_t h1 = h + g.half + 1 < g.height ? h + g.half + 1 : g.height;
    const int64_t w0 = w - g.half > 0 ? w - g.half : 0;
    const int64_t w1 = w + g.half + 1 < g.width ? w + g.half + 1 : g.width;
    for (int64_t hh = h0; hh < h1; ++hh)
      for (int64_t ww = w0; ww < w1; ++ww) {
        const float v = p[hh * g.width + ww];
        s += square ? v * v : v;
      }
  } else {
    const float* p = in + (i / (g.channels * plane)) * g.channels * plane + h * g.width + w;
    const int64_t c0 = c - g.half > 0 ? c - g.half : 0;
    const int64_t c1 = c + g.half + 1 < g.channels ? c + g.half + 1 : g.channels;
    for (int64_t cc = c0; cc < c1; ++cc) {
      const float v = p[cc * plane];
      s += square ? v * v : v;
    }
  }
  return s;
}

__global__ void LRNForward(Geometry g, const float* x, float base, float coef, float beta,
                           float* scale, float* y) {
  AD_CUDA_KERNEL_LOOP(i, g.count) {
    const float s = base + coef * WindowSumAt(g, x, i, true);
    scale[i] = s;
    y[i] = x[i] * powf(s, -beta);
  }
}

__global__ void LRNRatio(int64_t n, const float* dy, const float* y, const float* scale,
                         float* ratio) {
  AD_CUDA_KERNEL_LOOP(i, n) ratio[i] = dy[i] * y[i] / scale[i];
}

__global__ void LRNBackward(Geometry g, const float* x, const float* dy, const float* scale,
                            const float* ratio, float cache, float beta, float* dx) {
  AD_CUDA_KERNEL_LOOP(i, g.count) {
    dx[i] = dy[i] * powf(scale[i], -beta) - cache * x[i] * WindowSumAt(g, ratio, i, false);
  }
}

}  // namespace

void LRNLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const Geometry g{bottom[0]->count(), channels_, height_, width_, (size_ - 1) / 2,
                   within_channel_};
  LRNForward<<<CudaBlocks(g.count), kCudaThreads>>>(g, bottom[0]->gpu_data(), base_, coef_,
                                                     beta_, scale_.mutable_gpu_data(),
                                                     top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void LRNLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const Geometry g{bottom[0]->count(), channels_, height_, width_, (size_ - 1) / 2,
                   within_channel_};
  ratio_.ReshapeLike(*bottom[0]);
  LRNRatio<<<CudaBlocks(g.count), kCudaThreads>>>(g.count, top[0]->gpu_diff(),
                                                   top[0]->gpu_data(), scale_.gpu_data(),
                                                   ratio_.mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
  LRNBackward<<<CudaBlocks(g.count), kCudaThreads>>>(
      g, bottom[0]->gpu_data(), top[0]->gpu_diff(), scale_.gpu_data(), ratio_.gpu_data(),
      2.f * coef_ * beta_, beta_, bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
