// BatchNorm: per-channel normalization by batch or stored statistics (Caffe's
// batch_norm_layer.cpp; no learned scale or shift, a following Scale layer adds those).
// bottom: (N, C, ...) with any number of spatial axes (a 1-axis bottom has one channel);
// top: same shape; in place allowed.
// blobs: 0 = running mean sum (C), 1 = running variance sum (C), 2 = the scale factor (1);
// not learned (lr_mult 0, no param gradient).
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y = (x - mean_c) / sqrt(var_c + eps) over the channel axis 1.
 *
 * With use_global_stats false (the default in TRAIN): mean_c and var_c (biased) over
 * (N, spatial), and the running sums are updated with f = moving_average_fraction (0.999):
 * s = s*f + 1, mean_sum = mean_sum*f + mean, var_sum = var_sum*f + m/(m-1) var, m = N*spatial.
 * With use_global_stats true (the default in TEST): mean = mean_sum/s, var = var_sum/s
 * (0 when s == 0). eps defaults to 1e-5.
 *
 * Backward, global stats: dx = dy / sqrt(var + eps); batch stats:
 * dx = (dy - mean(dy) - y * mean(dy * y)) / sqrt(var + eps), means over (N, spatial).
 */
class BatchNormLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "BatchNorm"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#ifdef AUGDROP_WITH_CUDA
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override;
#endif

 private:
  // Sums over spatial positions per (n, c), scaled by alpha, then over n: out (C).
  void ChannelSum(const float* data, float alpha, float* out);
  // out[c] = sum_n num_by_chans[n, c], n in order.
  void SumOverNum(const float* num_by_chans, float* out) const;
  // s = s*f + 1, mean_sum = mean_sum*f + mean, var_sum = var_sum*f + m/(m-1) var (blobs_).
  // Out of line, as when the stored runs were made: inlined, the compiler may fuse these
  // multiply-adds differently.
  __attribute__((noinline)) void UpdateRunningStats(const float* mean, const float* variance,
                                                    int64_t count);

  bool use_global_stats_ = false;
  float moving_average_fraction_ = 0.999f;
  float eps_ = 1e-5f;
  int64_t channels_ = 0;
  int64_t num_ = 0;
  int64_t spatial_dim_ = 0;
  // One blob per piece of state, read by the CPU and the GPU path alike (SyncedMemory copies).
  Blob mean_;              // (C)
  Blob variance_;          // (C); holds sqrt(var + eps) after the forward pass
  Blob num_by_chans_;      // (N, C): per-row sums (the backward pass: data and diff)
  Blob sum_dyy_, sum_dy_;  // (C): the backward pass's sums of dy * y and of dy
  Blob x_norm_;            // (N, C, ...): normalized output kept for backward
};

}  // namespace augdrop
