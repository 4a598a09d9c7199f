#include "layers/lrn_layer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace augdrop {
namespace {

// out[n, c, h, w] = sum over the window around (c) or (h, w) of f(in); in, out: (N, C, H, W).
template <class F>
void WindowSum(const float* in, int64_t num, int64_t channels, int64_t height, int64_t width,
               int size, bool within_channel, F f, float* out) {
  const int64_t half = (size - 1) / 2;
  const int64_t plane = height * width;
  for (int64_t n = 0; n < num; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t h = 0; h < height; ++h)
        for (int64_t w = 0; w < width; ++w) {
          float s = 0.f;
          if (within_channel) {
            const float* p = in + (n * channels + c) * plane;
            for (int64_t hh = std::max<int64_t>(h - half, 0);
                 hh < std::min<int64_t>(h + half + 1, height); ++hh)
              for (int64_t ww = std::max<int64_t>(w - half, 0);
                   ww < std::min<int64_t>(w + half + 1, width); ++ww)
                s += f(p[hh * width + ww]);
          } else {
            const float* p = in + n * channels * plane + h * width + w;
            for (int64_t cc = std::max<int64_t>(c - half, 0);
                 cc < std::min<int64_t>(c + half + 1, channels); ++cc)
              s += f(p[cc * plane]);
          }
          out[((n * channels + c) * height + h) * width + w] = s;
        }
}

}  // namespace

void LRNLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("lrn_param");
  size_ = int(p.get_int("local_size", 5));
  AD_CHECK(size_ > 0 && size_ % 2 == 1,
           "LRN only supports odd values for local_size, got " << size_);
  alpha_ = float(p.get_float("alpha", 1.0));
  beta_ = float(p.get_float("beta", 0.75));
  k_ = float(p.get_float("k", 1.0));
  const std::string region = p.get_string("norm_region", "ACROSS_CHANNELS");
  AD_CHECK(region == "ACROSS_CHANNELS" || region == "WITHIN_CHANNEL",
           "Unknown normalization region: " << region);
  within_channel_ = region == "WITHIN_CHANNEL";
  // Caffe's WITHIN_CHANNEL power layer has shift 1 and scale alpha over an average of n^2.
  base_ = within_channel_ ? 1.f : k_;
  coef_ = within_channel_ ? alpha_ / float(size_ * size_) : alpha_ / float(size_);
}

void LRNLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->num_axes() == 4,
           "Input must have 4 axes, corresponding to (num, channels, height, width); got "
               << bottom[0]->shape_string());
  // The backward pass reads x, y and dy at once (Caffe's would read overwritten data).
  AD_CHECK(bottom[0] != top[0], "LRN does not allow in-place computation");
  num_ = bottom[0]->shape(0);
  channels_ = bottom[0]->shape(1);
  height_ = bottom[0]->shape(2);
  width_ = bottom[0]->shape(3);
  top[0]->ReshapeLike(*bottom[0]);
  scale_.ReshapeLike(*bottom[0]);
}

void LRNLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* scale = scale_.mutable_cpu_data();
  WindowSum(x, num_, channels_, height_, width_, size_, within_channel_,
            [](float v) { return v * v; }, scale);
  float* y = top[0]->mutable_cpu_data();
  const int64_t count = bottom[0]->count();
  for (int64_t i = 0; i < count; ++i) {
    scale[i] = base_ + coef_ * scale[i];
    y[i] = x[i] * std::pow(scale[i], -beta_);
  }
}

void LRNLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t count = bottom[0]->count();
  const float* x = bottom[0]->cpu_data();
  const float* y = top[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  const float* scale = scale_.cpu_data();
  ratio_.ReshapeLike(*bottom[0]);
  float* ratio = ratio_.mutable_cpu_data();
  for (int64_t i = 0; i < count; ++i) ratio[i] = dy[i] * y[i] / scale[i];
  float* dx = bottom[0]->mutable_cpu_diff();
  // dx holds the window sums of the ratios first.
  WindowSum(ratio, num_, channels_, height_, width_, size_, within_channel_,
            [](float v) { return v; }, dx);
  const float cache = 2.f * coef_ * beta_;
  for (int64_t i = 0; i < count; ++i)
    dx[i] = dy[i] * std::pow(scale[i], -beta_) - cache * x[i] * dx[i];
}

}  // namespace augdrop
