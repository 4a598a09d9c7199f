// BatchNorm + Scale (+ ReLU) fused, on the CPU: the three in-place layers of a ResNet unit's
// normalization (batch_norm_layer.cpp, scale_layer.cpp, relu_layer.cpp) as two passes over
// the blob each way instead of about a dozen.
//   forward:  mean_c, var_c as BatchNorm (the same sums in the same order), then in one pass
//             xn = (x - mean_c) / sd_c (kept in x_norm_), z = scale_c * xn, z += bias_c,
//             y = max(z, 0) (ReLU) written over x;
//   backward: with dz = dy where y > 0 (ReLU), per (n, c) row S1 = sum dz, S2 = sum dz * xn;
//             dbias_c += S1 per n, dscale_c += sum_n S2; dxn = dz * scale_c and the BatchNorm
//             backward with sum(dxn) = scale_c * S1, sum(dxn * xn) = scale_c * S2:
//             dx = (dxn - (sum(dxn) + xn * sum(dxn * xn)) / m) / sd_c  (global stats: dxn / sd).
// Contraction into fused multiply-adds is off here so that the forward rounds as the unfused
// layers do (one rounding per operation, as their separate loops over memory do); what those
// compute as a * x + b * y (the running sums) stays in batch_norm_layer.cpp, out of line, as
// link-time inlining would otherwise bring it here and round it differently.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cmath>

#include "layers/batch_norm_layer.hpp"

namespace augdrop {

void BatchNormLayer::ForwardFused(Blob* blob, const Blob& scale, const Blob* bias, bool relu) {
  float* y = blob->mutable_cpu_data();  // (N, C, spatial): x in, the group's output out
  const int64_t count = blob->count();
  float* mean = mean_.mutable_cpu_data();          // (C)
  float* variance = variance_.mutable_cpu_data();  // (C)
  const float alpha = float(1. / double(num_ * spatial_dim_));
  if (use_global_stats_) {
    const float s = blobs_[2]->cpu_data()[0];
    const float scale_factor = s == 0.f ? 0.f : 1.f / s;
    const float* mean_sum = blobs_[0]->cpu_data();
    const float* var_sum = blobs_[1]->cpu_data();
    for (int64_t c = 0; c < channels_; ++c) {
      mean[c] = scale_factor * mean_sum[c];
      variance[c] = scale_factor * var_sum[c];
    }
  } else {
    ChannelSum(y, alpha, mean);
    // var_c = E((x - mean)^2): BatchNorm's ChannelSum over the squares, without storing them.
    float* num_by_chans = num_by_chans_.mutable_cpu_data();
    for (int64_t n = 0; n < num_; ++n)
      for (int64_t c = 0; c < channels_; ++c) {
        const float* row = y + (n * channels_ + c) * spatial_dim_;
        const float m = mean[c];
        float s = 0.f;
        for (int64_t k = 0; k < spatial_dim_; ++k) {
          const float d = row[k] - m;
          s += d * d;
        }
        num_by_chans[n * channels_ + c] = alpha * s;
      }
    for (int64_t c = 0; c < channels_; ++c) {
      float s = 0.f;
      for (int64_t n = 0; n < num_; ++n) s += num_by_chans[n * channels_ + c];
      variance[c] = s;
    }
    UpdateRunningStats(mean, variance, count);
  }
  for (int64_t c = 0; c < channels_; ++c) variance[c] = std::sqrt(variance[c] + eps_);

  const float* g = scale.cpu_data();                      // (C)
  const float* b = bias ? bias->cpu_data() : nullptr;     // (C)
  float* xn = x_norm_.mutable_cpu_data();                 // (N, C, spatial)
  for (int64_t n = 0; n < num_; ++n)
    for (int64_t c = 0; c < channels_; ++c) {
      const int64_t off = (n * channels_ + c) * spatial_dim_;
      const float m = mean[c], sd = variance[c], gc = g[c], bc = b ? b[c] : 0.f;
      for (int64_t k = 0; k < spatial_dim_; ++k) {
        const float d = y[off + k] - m;
        const float v = d / sd;
        xn[off + k] = v;
        float z = gc * v;
        if (b) z = z + bc;
        // ReLU's max(z, 0) + 0 * min(z, 0): NaN stays NaN, as there.
        y[off + k] = relu ? std::max(z, 0.f) + 0.f * std::min(z, 0.f) : z;
      }
    }
}

void BatchNormLayer::BackwardFused(Blob* blob, const Blob& scale, float* scale_diff,
                                   float* bias_diff, bool relu, bool propagate_down) {
  const float* y = blob->cpu_data();   // (N, C, spatial): the group's output
  float* d = blob->mutable_cpu_diff();  // dy in, dx out (in place)
  const float* xn = x_norm_.cpu_data();
  const float* g = scale.cpu_data();
  const float* sd = variance_.cpu_data();
  // Pass 1: per (n, c) row, S1 = sum dz, S2 = sum dz * xn, with dz the ReLU's gradient.
  float* s1 = num_by_chans_.mutable_cpu_data();  // (N, C), reused as scratch
  float* s2 = x_norm_.mutable_cpu_diff();        // (N, C) of its (N, C, spatial)
  for (int64_t r = 0; r < num_ * channels_; ++r) {
    const int64_t off = r * spatial_dim_;
    float a = 0.f, p = 0.f;
    for (int64_t k = 0; k < spatial_dim_; ++k) {
      const float dz = relu ? (y[off + k] > 0 ? d[off + k] : 0.f) : d[off + k];
      a += dz;
      p += dz * xn[off + k];
    }
    s1[r] = a;
    s2[r] = p;
  }
  float* sum_dy = sum_dy_.mutable_cpu_data();    // (C): sum of dxn
  float* sum_dyy = sum_dyy_.mutable_cpu_data();  // (C): sum of dxn * xn
  for (int64_t c = 0; c < channels_; ++c) {
    float a = 0.f, p = 0.f;
    for (int64_t n = 0; n < num_; ++n) {
      a += s1[n * channels_ + c];
      p += s2[n * channels_ + c];
      if (bias_diff) bias_diff[c] += s1[n * channels_ + c];  // Scale adds one n at a time
    }
    if (scale_diff) scale_diff[c] += p;
    sum_dy[c] = g[c] * a;
    sum_dyy[c] = g[c] * p;
  }
  if (!propagate_down) return;
  // Pass 2: dx from dxn = dz * scale_c.
  const float neg_inv_m = float(-1. / double(num_ * spatial_dim_));
  for (int64_t n = 0; n < num_; ++n)
    for (int64_t c = 0; c < channels_; ++c) {
      const int64_t off = (n * channels_ + c) * spatial_dim_;
      const float gc = g[c], sdc = sd[c], a = sum_dyy[c], b = sum_dy[c];
      for (int64_t k = 0; k < spatial_dim_; ++k) {
        const float dz = relu ? (y[off + k] > 0 ? d[off + k] : 0.f) : d[off + k];
        const float dxn = dz * gc;
        d[off + k] = use_global_stats_ ? dxn / sdc
                                       : (neg_inv_m * (xn[off + k] * a + b) + dxn) / sdc;
      }
    }
}

}  // namespace augdrop
