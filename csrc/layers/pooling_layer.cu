// Pooling on the GPU (Caffe's pooling_layer.cu): the same formulas as pooling_layer.cpp.
// Forward: one thread per top element, its window in row-major order (STOCHASTIC: its
// uniforms drawn on the host from Caffe's stream, as the CPU path draws them). Backward: one thread per
// bottom element gathers from the windows that hold it, in ascending top order, which is the
// order the CPU path adds them in, so the sums are the same float operations.
#include <cfloat>

#include "core/cuda_check.hpp"
#include "core/rng.hpp"
#include "layers/pooling_layer.hpp"

namespace augdrop {
namespace {

// One (n, c) plane: (height, width) in, (pooled_h, pooled_w) out.
struct PoolGeometry {
  int64_t height, width, pooled_h, pooled_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
};

// Top element (ph, pw)'s window starts at (ph * stride_h - pad_h, pw * stride_w - pad_w).
// The AVE divisor is ClipAveWindow's (pooling_layer.cpp): the window clipped at size + pad,
// counted before clipping to the image.
__device__ int64_t AvePoolSize(const PoolGeometry& g, int64_t hstart, int64_t wstart) {
  const int64_t hend = min(hstart + g.kernel_h, g.height + g.pad_h);
  const int64_t wend = min(wstart + g.kernel_w, g.width + g.pad_w);
  return (hend - hstart) * (wend - wstart);
}

// Top element `index`'s plane and window: rows [hstart, hend), columns [wstart, wend); the
// starts are before clipping at 0 (the AVE divisor needs them), the ends clipped to the image.
struct TopWindow {
  int64_t plane, hstart, wstart, hend, wend;
};
__device__ TopWindow WindowOf(const PoolGeometry& g, int64_t index) {
  const int64_t pw = index % g.pooled_w;
  const int64_t ph = (index / g.pooled_w) % g.pooled_h;
  const int64_t hstart = ph * g.stride_h - g.pad_h, wstart = pw * g.stride_w - g.pad_w;
  return {index / (g.pooled_w * g.pooled_h), hstart, wstart, min(hstart + g.kernel_h, g.height),
          min(wstart + g.kernel_w, g.width)};
}

// x: (planes, height, width); y, argmax, mask: (planes, pooled_h, pooled_w); mask may be null.
// Caffe's rule: the first maximum in row-major window order (strict >) from -FLT_MAX, index -1
// where nothing in the window beats it; argmax is the offset within the plane.
__global__ void MaxPoolForward(int64_t n, PoolGeometry g, const float* x, float* y,
                               int32_t* argmax, float* mask) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const TopWindow t = WindowOf(g, index);
    const float* xin = x + t.plane * g.height * g.width;
    float best = -FLT_MAX;
    int32_t best_index = -1;
    for (int64_t h = max(t.hstart, int64_t(0)); h < t.hend; ++h)
      for (int64_t w = max(t.wstart, int64_t(0)); w < t.wend; ++w)
        if (xin[h * g.width + w] > best) {
          best = xin[h * g.width + w];
          best_index = static_cast<int32_t>(h * g.width + w);
        }
    y[index] = best;
    argmax[index] = best_index;
    if (mask) mask[index] = float(best_index);
  }
}

__global__ void AvePoolForward(int64_t n, PoolGeometry g, const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const TopWindow t = WindowOf(g, index);
    const float* xin = x + t.plane * g.height * g.width;
    float sum = 0;
    for (int64_t h = max(t.hstart, int64_t(0)); h < t.hend; ++h)
      for (int64_t w = max(t.wstart, int64_t(0)); w < t.wend; ++w) sum += xin[h * g.width + w];
    y[index] = sum / float(AvePoolSize(g, t.hstart, t.wstart));
  }
}

// STOCHASTIC (pooling_layer.hpp; no padding): u per top element in TRAIN, null in TEST.
__global__ void StoPoolForward(int64_t n, PoolGeometry g, const float* x, const float* u,
                               float* y, int32_t* argmax) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const TopWindow t = WindowOf(g, index);
    const float* xin = x + t.plane * g.height * g.width;
    float sum = 0, squares = 0;
    for (int64_t h = t.hstart; h < t.hend; ++h)
      for (int64_t w = t.wstart; w < t.wend; ++w) {
        sum += xin[h * g.width + w];
        squares += xin[h * g.width + w] * xin[h * g.width + w];
      }
    if (!u) {
      y[index] = sum > 0.f ? squares / sum : 0.f;
      continue;
    }
    const float threshold = u[index] * sum;
    int64_t chosen = -1;
    float running = 0;
    for (int64_t h = t.hstart; h < t.hend && chosen < 0; ++h)
      for (int64_t w = t.wstart; w < t.wend && chosen < 0; ++w) {
        running += xin[h * g.width + w];
        if (running >= threshold) chosen = h * g.width + w;
      }
    if (chosen < 0) chosen = (t.hend - 1) * g.width + t.wend - 1;
    y[index] = xin[chosen];
    argmax[index] = static_cast<int32_t>(chosen);
  }
}

// The top rows (or columns) whose windows hold padded coordinate hp = h + pad: [start, end).
__device__ int64_t FirstWindow(int64_t hp, int64_t kernel, int64_t stride) {
  return hp < kernel ? 0 : (hp - kernel) / stride + 1;
}
__device__ int64_t EndWindow(int64_t hp, int64_t stride, int64_t pooled) {
  return min(hp / stride + 1, pooled);
}

// Bottom element `index` at (plane, h, w), and the top elements whose windows hold it: rows
// [phstart, phend), columns [pwstart, pwend).
struct Covering {
  int64_t plane, h, w, phstart, phend, pwstart, pwend;
};
__device__ Covering CoveringOf(const PoolGeometry& g, int64_t index) {
  const int64_t w = index % g.width;
  const int64_t h = (index / g.width) % g.height;
  return {index / (g.width * g.height), h, w,
          FirstWindow(h + g.pad_h, g.kernel_h, g.stride_h),
          EndWindow(h + g.pad_h, g.stride_h, g.pooled_h),
          FirstWindow(w + g.pad_w, g.kernel_w, g.stride_w),
          EndWindow(w + g.pad_w, g.stride_w, g.pooled_w)};
}

// dy, argmax: (planes, pooled_h, pooled_w); dx: (planes, height, width), every element written.
__global__ void MaxPoolBackward(int64_t n, PoolGeometry g, const float* dy,
                                const int32_t* argmax, float* dx) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const Covering c = CoveringOf(g, index);
    const int64_t offset = c.plane * g.pooled_h * g.pooled_w;
    const int32_t self = static_cast<int32_t>(c.h * g.width + c.w);
    float gradient = 0.f;
    for (int64_t ph = c.phstart; ph < c.phend; ++ph)
      for (int64_t pw = c.pwstart; pw < c.pwend; ++pw)
        if (argmax[offset + ph * g.pooled_w + pw] == self)
          gradient += dy[offset + ph * g.pooled_w + pw];
    dx[index] = gradient;
  }
}

__global__ void AvePoolBackward(int64_t n, PoolGeometry g, const float* dy, float* dx) {
  AD_CUDA_KERNEL_LOOP(index, n) {
    const Covering c = CoveringOf(g, index);
    const float* dyout = dy + c.plane * g.pooled_h * g.pooled_w;
    float gradient = 0.f;
    for (int64_t ph = c.phstart; ph < c.phend; ++ph)
      for (int64_t pw = c.pwstart; pw < c.pwend; ++pw) {
        const int64_t pool_size =
            AvePoolSize(g, ph * g.stride_h - g.pad_h, pw * g.stride_w - g.pad_w);
        gradient += dyout[ph * g.pooled_w + pw] / float(pool_size);
      }
    dx[index] = gradient;
  }
}

}  // namespace

void PoolingLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const PoolGeometry g{height_,   width_,    pooled_h_, pooled_w_, kernel_h_,
                       kernel_w_, stride_h_, stride_w_, pad_h_,    pad_w_};
  const int64_t n = top[0]->count();
  if (method_ == Method::AVE) {
    AvePoolForward<<<CudaBlocks(n), kCudaThreads>>>(n, g, bottom[0]->gpu_data(),
                                                    top[0]->mutable_gpu_data());
    AD_CUDA_POST_KERNEL_CHECK;
    return;
  }
  if (method_ == Method::STOCHASTIC) {
    const bool train = phase_ == Phase::TRAIN;
    if (train) caffe_rng_uniform(n, 0.f, 1.f, uniforms_.mutable_cpu_data());
    StoPoolForward<<<CudaBlocks(n), kCudaThreads>>>(
        n, g, bottom[0]->gpu_data(), train ? uniforms_.gpu_data() : nullptr,
        top[0]->mutable_gpu_data(), train ? static_cast<int32_t*>(argmax_->mutable_gpu_data()) : nullptr);
    AD_CUDA_POST_KERNEL_CHECK;
    return;
  }
  float* mask = top.size() > 1 ? top[1]->mutable_gpu_data() : nullptr;
  MaxPoolForward<<<CudaBlocks(n), kCudaThreads>>>(
      n, g, bottom[0]->gpu_data(), top[0]->mutable_gpu_data(),
      static_cast<int32_t*>(argmax_->mutable_gpu_data()), mask);
  AD_CUDA_POST_KERNEL_CHECK;
}

void PoolingLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const PoolGeometry g{height_,   width_,    pooled_h_, pooled_w_, kernel_h_,
                       kernel_w_, stride_h_, stride_w_, pad_h_,    pad_w_};
  const int64_t n = bottom[0]->count();
  if (method_ == Method::AVE) {
    AvePoolBackward<<<CudaBlocks(n), kCudaThreads>>>(n, g, top[0]->gpu_diff(),
                                                     bottom[0]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
    return;
  }
  AD_CHECK(method_ != Method::STOCHASTIC || phase_ == Phase::TRAIN,
           "STOCHASTIC pooling has no backward pass in the TEST phase (Caffe's would route the "
           "gradient by the samples of an earlier TRAIN pass)");
  // MAX and STOCHASTIC: the gradient goes to the chosen element
  MaxPoolBackward<<<CudaBlocks(n), kCudaThreads>>>(
      n, g, top[0]->gpu_diff(), static_cast<const int32_t*>(argmax_->gpu_data()),
      bottom[0]->mutable_gpu_diff());
  AD_CUDA_POST_KERNEL_CHECK;
}

}  // namespace augdrop
