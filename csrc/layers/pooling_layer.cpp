#include "layers/pooling_layer.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "math/simd.hpp"

namespace augdrop {
namespace {

// Caffe's kernel_size/pad/stride, or their kernel_h/kernel_w, pad_h/..., stride_h/... forms.
int64_t FieldH(const Params& p, const std::string& field, const std::string& prefix, int64_t def) {
  return p.has(prefix + "_h") ? p.get_int(prefix + "_h", def) : p.get_int(field, def);
}
int64_t FieldW(const Params& p, const std::string& field, const std::string& prefix, int64_t def) {
  return p.has(prefix + "_w") ? p.get_int(prefix + "_w", def) : p.get_int(field, def);
}

// An AVE window clipped to the image, and Caffe's divisor: the window's size over the padded
// input (clipped at size + pad), counted before clipping to the image.
struct AveWindow {
  int64_t hstart, hend, wstart, wend, pool_size;
};

AveWindow ClipAveWindow(int64_t hstart, int64_t wstart, int64_t kernel_h, int64_t kernel_w,
                        int64_t height, int64_t width, int64_t pad_h, int64_t pad_w) {
  const int64_t hend = std::min(hstart + kernel_h, height + pad_h);
  const int64_t wend = std::min(wstart + kernel_w, width + pad_w);
  return {std::max<int64_t>(hstart, 0), std::min(hend, height), std::max<int64_t>(wstart, 0),
          std::min(wend, width), (hend - hstart) * (wend - wstart)};
}

}  // namespace

void PoolingLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("pooling_param");
  const std::string pool = p.get_string("pool", "MAX");
  if (pool == "MAX") {
    method_ = Method::MAX;
  } else if (pool == "AVE") {
    method_ = Method::AVE;
  } else if (pool == "STOCHASTIC") {
    method_ = Method::STOCHASTIC;
  } else {
    AD_FAIL("pooling method " << pool << " is not supported (MAX, AVE or STOCHASTIC)");
  }
  AD_CHECK(top.size() == 1 || method_ == Method::MAX, "only MAX pooling has a mask top");
  ceil_mode_ = p.get_string("round_mode", "CEIL") == "CEIL";
  global_ = p.get_bool("global_pooling", false);
  AD_CHECK(bottom[0]->num_axes() == 4, "Pooling needs a 4-d bottom (N, C, H, W), got "
                                           << bottom[0]->shape_string());
  if (global_) {
    AD_CHECK(!p.has("kernel_size") && !p.has("kernel_h") && !p.has("kernel_w"),
             "with global_pooling the kernel size is the input size; do not set it");
    kernel_h_ = bottom[0]->shape(2);
    kernel_w_ = bottom[0]->shape(3);
  } else {
    AD_CHECK(p.has("kernel_size") || (p.has("kernel_h") && p.has("kernel_w")),
             "pooling_param needs kernel_size or kernel_h and kernel_w");
    kernel_h_ = FieldH(p, "kernel_size", "kernel", 0);
    kernel_w_ = FieldW(p, "kernel_size", "kernel", 0);
  }
  AD_CHECK(kernel_h_ > 0 && kernel_w_ > 0, "kernel size must be positive");
  pad_h_ = FieldH(p, "pad", "pad", 0);
  pad_w_ = FieldW(p, "pad", "pad", 0);
  stride_h_ = FieldH(p, "stride", "stride", 1);
  stride_w_ = FieldW(p, "stride", "stride", 1);
  AD_CHECK(stride_h_ > 0 && stride_w_ > 0, "stride must be positive");
  if (global_) {
    AD_CHECK(pad_h_ == 0 && pad_w_ == 0 && stride_h_ == 1 && stride_w_ == 1,
             "with global_pooling, pad must be 0 and stride 1");
  }
  AD_CHECK(pad_h_ < kernel_h_ && pad_w_ < kernel_w_, "pad must be smaller than the kernel");
  AD_CHECK(method_ != Method::STOCHASTIC || (pad_h_ == 0 && pad_w_ == 0),
           "padding is implemented only for MAX and AVE pooling, not STOCHASTIC");
}

void PoolingLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->num_axes() == 4, "Pooling needs a 4-d bottom (N, C, H, W), got "
                                           << bottom[0]->shape_string());
  height_ = bottom[0]->shape(2);
  width_ = bottom[0]->shape(3);
  if (global_) {
    kernel_h_ = height_;
    kernel_w_ = width_;
  }
  auto pooled = [&](int64_t size, int64_t k, int64_t pad, int64_t stride) {
    const double span = double(size + 2 * pad - k) / stride;
    int64_t out = int64_t(ceil_mode_ ? std::ceil(span) : std::floor(span)) + 1;
    // The last window must start inside the image or the left padding (pooling_layer.cpp).
    if (pad > 0 && (out - 1) * stride >= size + pad) --out;
    return out;
  };
  pooled_h_ = pooled(height_, kernel_h_, pad_h_, stride_h_);
  pooled_w_ = pooled(width_, kernel_w_, pad_w_, stride_w_);
  AD_CHECK(pooled_h_ > 0 && pooled_w_ > 0, "pooling window larger than the input "
                                               << bottom[0]->shape_string());
  const std::vector<int64_t> shape{bottom[0]->shape(0), bottom[0]->shape(1), pooled_h_, pooled_w_};
  for (Blob* t : top) t->Reshape(shape);
  const size_t bytes = size_t(top[0]->count()) * sizeof(int32_t);
  if (method_ != Method::AVE && (!argmax_ || argmax_->size() != bytes))
    argmax_ = std::make_unique<SyncedMemory>(bytes);
  if (method_ == Method::STOCHASTIC) uniforms_.Reshape(shape);
}

void PoolingLayer::StochasticPlane(const float* xin, float* yout, int32_t* arg,
                                   const float* u) const {
  for (int64_t ph = 0; ph < pooled_h_; ++ph) {
    for (int64_t pw = 0; pw < pooled_w_; ++pw) {
      const int64_t hstart = ph * stride_h_, hend = std::min(hstart + kernel_h_, height_);
      const int64_t wstart = pw * stride_w_, wend = std::min(wstart + kernel_w_, width_);
      const int64_t out_index = ph * pooled_w_ + pw;
      float sum = 0, squares = 0;
      for (int64_t h = hstart; h < hend; ++h)
        for (int64_t w = wstart; w < wend; ++w) {
          sum += xin[h * width_ + w];
          squares += xin[h * width_ + w] * xin[h * width_ + w];
        }
      if (!u) {
        yout[out_index] = sum > 0.f ? squares / sum : 0.f;
        continue;
      }
      const float threshold = u[out_index] * sum;
      int64_t chosen = -1;
      float running = 0;
      for (int64_t h = hstart; h < hend && chosen < 0; ++h)
        for (int64_t w = wstart; w < wend && chosen < 0; ++w) {
          running += xin[h * width_ + w];
          if (running >= threshold) chosen = h * width_ + w;
        }
      if (chosen < 0) chosen = (hend - 1) * width_ + wend - 1;  // none reached (DEVIATION)
      yout[out_index] = xin[chosen];
      arg[out_index] = static_cast<int32_t>(chosen);
    }
  }
}

template <int KH, int KW>
void PoolingLayer::ForwardPlane(const float* xin, float* yout, int32_t*) const {
  // AVE (MAX: MaxPlaneVectors). KH, KW > 0: windows inside the image take a loop of that
  // fixed size, which the compiler unrolls (the same sums in the same order as the general
  // loop). Members copied to locals: the stores could alias them, forcing reloads.
  const int64_t height = height_, width = width_, pooled_h = pooled_h_, pooled_w = pooled_w_;
  const int64_t kernel_h = kernel_h_, kernel_w = kernel_w_, stride_h = stride_h_;
  const int64_t stride_w = stride_w_, pad_h = pad_h_, pad_w = pad_w_;
  for (int64_t ph = 0; ph < pooled_h; ++ph) {
    for (int64_t pw = 0; pw < pooled_w; ++pw) {
      const int64_t hstart = ph * stride_h - pad_h, wstart = pw * stride_w - pad_w;
      const int64_t out_index = ph * pooled_w + pw;
      const bool inside = KH > 0 && hstart >= 0 && wstart >= 0 && hstart + KH <= height &&
                          wstart + KW <= width;
      float sum = 0;
      if (inside) {
        const float* p = xin + hstart * width + wstart;
        for (int h = 0; h < KH; ++h)
          for (int w = 0; w < KW; ++w) sum += p[h * width + w];
        yout[out_index] = sum / (KH * KW);
        continue;
      }
      const AveWindow win = ClipAveWindow(hstart, wstart, kernel_h, kernel_w, height, width,
                                          pad_h, pad_w);
      for (int64_t h = win.hstart; h < win.hend; ++h)
        for (int64_t w = win.wstart; w < win.wend; ++w) sum += xin[h * width + w];
      yout[out_index] = sum / win.pool_size;
    }
  }
}

void PoolingLayer::MaxPlaneVectors(const float* xin, float* yout, int32_t* arg,
                                   float* phases) const {
  using simd::IVec;
  using simd::Vec;
  const int64_t height = height_, width = width_, pooled_h = pooled_h_, pooled_w = pooled_w_;
  const int64_t kernel_h = kernel_h_, kernel_w = kernel_w_, stride_h = stride_h_;
  const int64_t s = stride_w_, pad_h = pad_h_, pad_w = pad_w_;
  // Each input row split by column phase: phase r holds columns j * s + r - pad_w (j >= 0),
  // -FLT_MAX outside the image, so that window column kw of the outputs pw, pw + 1, ... is
  // one contiguous run, phase kw % s from j = pw + kw / s. -FLT_MAX never wins the strict
  // comparison, as positions outside the image never enter Caffe's clipped window.
  const int64_t run = PhaseRun();
  for (int64_t h = 0; h < height; ++h)
    for (int64_t r = 0; r < s; ++r) {
      float* out = phases + (h * s + r) * run;
      const float* in = xin + h * width + r - pad_w;  // in[j * s] is column j * s + r - pad_w
      // columns inside the image: j in [begin, end)
      const int64_t begin = std::min(run, std::max<int64_t>(0, (pad_w - r + s - 1) / s));
      const int64_t end = std::max(begin, std::min(run, (width + pad_w - r + s - 1) / s));
      for (int64_t j = 0; j < begin; ++j) out[j] = -FLT_MAX;
      if (s == 2) {  // the common stride, as a constant: the compiler vectorizes the gather
        for (int64_t j = begin; j < end; ++j) out[j] = in[j * 2];
      } else {
        for (int64_t j = begin; j < end; ++j) out[j] = in[j * s];
      }
      for (int64_t j = end; j < run; ++j) out[j] = -FLT_MAX;
    }
  IVec lane_column;  // lane i's offset in columns: i * s
  for (int i = 0; i < kVec; ++i) lane_column[i] = static_cast<int32_t>(i * s);
  for (int64_t ph = 0; ph < pooled_h; ++ph) {
    const int64_t hstart = std::max<int64_t>(ph * stride_h - pad_h, 0);
    const int64_t hend = std::min(ph * stride_h - pad_h + kernel_h, height);
    for (int64_t pw = 0; pw < pooled_w; pw += kVec) {
      Vec best = Vec{} - FLT_MAX;
      IVec best_index = IVec{} - 1;
      for (int64_t h = hstart; h < hend; ++h) {
        for (int64_t kw = 0; kw < kernel_w; ++kw) {
          const Vec v = simd::Load(phases + (h * s + kw % s) * run + pw + kw / s);
          const IVec greater = v > best;  // Caffe's rule: the first maximum in row-major order
          best = greater ? v : best;
          const int32_t index = static_cast<int32_t>(h * width + pw * s + kw - pad_w);
          best_index = greater ? lane_column + index : best_index;
        }
      }
      const int64_t lanes = std::min<int64_t>(kVec, pooled_w - pw);
      for (int64_t i = 0; i < lanes; ++i) {
        yout[ph * pooled_w + pw + i] = best[i];
        arg[ph * pooled_w + pw + i] = best_index[i];
      }
    }
  }
}

void PoolingLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t planes = bottom[0]->shape(0) * bottom[0]->shape(1);
  const int64_t in_plane = height_ * width_, out_plane = pooled_h_ * pooled_w_;
  if (method_ == Method::STOCHASTIC) {
    const bool train = phase_ == Phase::TRAIN;
    if (train) caffe_rng_uniform(top[0]->count(), 0.f, 1.f, uniforms_.mutable_cpu_data());
    const float* u = train ? uniforms_.cpu_data() : nullptr;
    int32_t* args = train ? static_cast<int32_t*>(argmax_->mutable_cpu_data()) : nullptr;
    ParallelFor(planes, [&](int64_t pl, int) {
      StochasticPlane(x + pl * in_plane, y + pl * out_plane, args ? args + pl * out_plane : nullptr,
                      u ? u + pl * out_plane : nullptr);
    });
    return;
  }
  int32_t* args = method_ == Method::MAX ? static_cast<int32_t*>(argmax_->mutable_cpu_data()) : nullptr;
  if (method_ == Method::MAX) phases_.resize(MaxThreads() * height_ * stride_w_ * PhaseRun());
  ParallelFor(planes, [&](int64_t pl, int t) {
    const float* xin = x + pl * in_plane;
    float* yout = y + pl * out_plane;
    int32_t* arg = args ? args + pl * out_plane : nullptr;
    if (arg) MaxPlaneVectors(xin, yout, arg, phases_.data() + t * height_ * stride_w_ * PhaseRun());
    else if (kernel_h_ == 2 && kernel_w_ == 2) ForwardPlane<2, 2>(xin, yout, arg);
    else if (kernel_h_ == 3 && kernel_w_ == 3) ForwardPlane<3, 3>(xin, yout, arg);
    else ForwardPlane<0, 0>(xin, yout, arg);
  });
  if (top.size() > 1) {
    float* mask = top[1]->mutable_cpu_data();
    for (int64_t i = 0; i < top[1]->count(); ++i) mask[i] = float(args[i]);
  }
}

template <int KH, int KW>
void PoolingLayer::BackwardPlane(const float* dyout, float* dxin, const int32_t* arg) const {
  const int64_t height = height_, width = width_, pooled_h = pooled_h_, pooled_w = pooled_w_;
  const int64_t kernel_h = kernel_h_, kernel_w = kernel_w_, stride_h = stride_h_;
  const int64_t stride_w = stride_w_, pad_h = pad_h_, pad_w = pad_w_;
  std::fill(dxin, dxin + height * width, 0.f);
  if (arg) {  // MAX, STOCHASTIC
    for (int64_t i = 0; i < pooled_h * pooled_w; ++i)
      if (arg[i] >= 0) dxin[arg[i]] += dyout[i];
    return;
  }
  for (int64_t ph = 0; ph < pooled_h; ++ph) {
    for (int64_t pw = 0; pw < pooled_w; ++pw) {
      int64_t hstart = ph * stride_h - pad_h, wstart = pw * stride_w - pad_w;
      const float dy = dyout[ph * pooled_w + pw];
      if (KH > 0 && hstart >= 0 && wstart >= 0 && hstart + KH <= height && wstart + KW <= width) {
        const float g = dy / (KH * KW);
        float* p = dxin + hstart * width + wstart;
        for (int h = 0; h < KH; ++h)
          for (int w = 0; w < KW; ++w) p[h * width + w] += g;
        continue;
      }
      const AveWindow win = ClipAveWindow(hstart, wstart, kernel_h, kernel_w, height, width,
                                          pad_h, pad_w);
      const float g = dy / win.pool_size;
      for (int64_t h = win.hstart; h < win.hend; ++h)
        for (int64_t w = win.wstart; w < win.wend; ++w) dxin[h * width + w] += g;
    }
  }
}

void PoolingLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  AD_CHECK(method_ != Method::STOCHASTIC || phase_ == Phase::TRAIN,
           "STOCHASTIC pooling has no backward pass in the TEST phase (Caffe's would route the "
           "gradient by the samples of an earlier TRAIN pass)");
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  const int32_t* args =
      method_ == Method::AVE ? nullptr : static_cast<const int32_t*>(argmax_->cpu_data());
  const int64_t planes = bottom[0]->shape(0) * bottom[0]->shape(1);
  const int64_t in_plane = height_ * width_, out_plane = pooled_h_ * pooled_w_;
  ParallelFor(planes, [&](int64_t pl, int) {
    const float* dyout = dy + pl * out_plane;
    float* dxin = dx + pl * in_plane;
    const int32_t* arg = args ? args + pl * out_plane : nullptr;
    if (kernel_h_ == 2 && kernel_w_ == 2) BackwardPlane<2, 2>(dyout, dxin, arg);
    else if (kernel_h_ == 3 && kernel_w_ == 3) BackwardPlane<3, 3>(dyout, dxin, arg);
    else BackwardPlane<0, 0>(dyout, dxin, arg);
  });
}

}  // namespace augdrop
