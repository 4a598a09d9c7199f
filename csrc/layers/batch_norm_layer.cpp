#include "layers/batch_norm_layer.hpp"

#include <cmath>
#include <memory>

#include "math/math_functions.hpp"
#include "math/row_blocks.hpp"
#include "math/row_passes.hpp"

namespace augdrop {

void BatchNormLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("batch_norm_param");
  moving_average_fraction_ = float(p.get_float("moving_average_fraction", 0.999));
  use_global_stats_ = p.get_bool("use_global_stats", phase_ == Phase::TEST);
  channels_ = bottom[0]->num_axes() == 1 ? 1 : bottom[0]->shape(1);
  eps_ = float(p.get_float("eps", 1e-5));

  blobs_.clear();
  blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{channels_}));
  blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{channels_}));
  blobs_.push_back(std::make_shared<Blob>(std::vector<int64_t>{1}));
  for (auto& b : blobs_) cpu_set(b->count(), 0.f, b->mutable_cpu_data());

  // The statistics are not learned: Caffe masks them with lr_mult 0 (adding the param specs
  // that are missing) and refuses any other learning rate for them.
  const std::vector<const Params*> specs = layer_param_.get_messages("param");
  for (size_t i = 0; i < blobs_.size(); ++i) {
    if (i >= specs.size()) {
      auto fixed = std::make_shared<Params>();
      fixed->set("lr_mult", 0.0);
      layer_param_.add("param", fixed);
    } else {
      AD_CHECK(specs[i]->get_float("lr_mult", 1.0) == 0.0,
               "Cannot configure batch normalization statistics as layer parameters "
               "(param " << i << " has lr_mult " << specs[i]->get_float("lr_mult", 1.0)
                         << "; it must be 0)");
    }
    set_param_propagate_down(int(i), false);
  }
}

void BatchNormLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  if (bottom[0]->num_axes() > 1)
    AD_CHECK(bottom[0]->shape(1) == channels_,
             "BatchNorm was set up for " << channels_ << " channels, bottom has shape "
                                         << bottom[0]->shape_string());
  top[0]->ReshapeLike(*bottom[0]);
  x_norm_.ReshapeLike(*bottom[0]);
  num_ = bottom[0]->shape(0);
  spatial_dim_ = num_ * channels_ == 0 ? 0 : bottom[0]->count() / (num_ * channels_);
  mean_.Reshape({channels_});
  variance_.Reshape({channels_});
  num_by_chans_.Reshape({num_, channels_});
  sum_dyy_.Reshape({channels_});
  sum_dy_.Reshape({channels_});
}

void BatchNormLayer::ChannelSum(const float* data, float alpha, float* out) {
  float* num_by_chans = num_by_chans_.mutable_cpu_data();
  cpu_row_sums(num_ * channels_, spatial_dim_, data, alpha, num_by_chans);
  SumOverNum(num_by_chans, out);
}

void BatchNormLayer::SumOverNum(const float* num_by_chans, float* out) const {
  for (int64_t c = 0; c < channels_; ++c) {
    float s = 0.f;
    for (int64_t n = 0; n < num_; ++n) s += num_by_chans[n * channels_ + c];
    out[c] = s;
  }
}

void BatchNormLayer::UpdateRunningStats(const float* mean, const float* variance,
                                        int64_t count) {
  float* s = blobs_[2]->mutable_cpu_data();
  s[0] *= moving_average_fraction_;
  s[0] += 1.f;
  cpu_axpby(channels_, 1.f, mean, moving_average_fraction_, blobs_[0]->mutable_cpu_data());
  const int64_t m = count / channels_;
  const float bias_correction_factor = m > 1 ? float(m) / float(m - 1) : 1.f;
  cpu_axpby(channels_, bias_correction_factor, variance, moving_average_fraction_,
            blobs_[1]->mutable_cpu_data());
}

void BatchNormLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  // Three passes over the blob (the mean's sums, the variance's sums, then y and x_norm in
  // one write), the rows over threads; the same bits as Caffe's order of whole-blob steps
  // (copy, subtract, square, sum, divide, copy), row_passes.hpp.
  const float* x = bottom[0]->cpu_data();  // (N, C, spatial)
  float* y = top[0]->mutable_cpu_data();   // (N, C, spatial); may alias x
  const int64_t count = bottom[0]->count();
  const int64_t rows = num_ * channels_;
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
    ChannelSum(x, alpha, mean);
    // var = E((x - mean)^2)
    float* num_by_chans = num_by_chans_.mutable_cpu_data();
    cpu_rows_centred_square_sums(rows, spatial_dim_, channels_, x, mean, alpha, num_by_chans);
    SumOverNum(num_by_chans, variance);
    UpdateRunningStats(mean, variance, count);
  }
  // std = sqrt(var + eps); y = (x - mean) / std
  for (int64_t c = 0; c < channels_; ++c) variance[c] = std::sqrt(variance[c] + eps_);
  cpu_rows_normalize(rows, spatial_dim_, channels_, x, mean, variance, y,
                     x_norm_.mutable_cpu_data());
}

void BatchNormLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  // In place, dy and dx are the same memory: every dx element is written only after the
  // sums that read dy, and from the dy element at its own index.
  const float* dy = top[0]->cpu_diff();       // (N, C, spatial)
  float* dx = bottom[0]->mutable_cpu_diff();  // (N, C, spatial)
  const float* y = x_norm_.cpu_data();        // (N, C, spatial)
  const float* sds = variance_.cpu_data();    // (C): sqrt(var + eps)

  const int64_t rows = num_ * channels_, len = spatial_dim_;
  if (use_global_stats_) {
    ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
      for (int64_t r = r0; r < r0 + nr; ++r) {
        const float sd = sds[r % channels_];
        for (int64_t k = r * len; k < (r + 1) * len; ++k) dx[k] = dy[k] / sd;
      }
    });
    return;
  }

  // sum_dyy_c = sum(dy * y), sum_dy_c = sum(dy), over (N, spatial), in one pass.
  float* sum_dyy = sum_dyy_.mutable_cpu_data();
  float* sum_dy = sum_dy_.mutable_cpu_data();
  float* dyy_rows = num_by_chans_.mutable_cpu_data();
  float* dy_rows = num_by_chans_.mutable_cpu_diff();
  cpu_rows_product_and_sums(rows, len, y, dy, dyy_rows, dy_rows);
  SumOverNum(dyy_rows, sum_dyy);
  SumOverNum(dy_rows, sum_dy);

  // dx = (dy - (sum_dy + sum_dyy * y) / m) / std
  const float neg_inv_m = float(-1. / double(num_ * spatial_dim_));
  ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
    for (int64_t r = r0; r < r0 + nr; ++r) {
      const int64_t c = r % channels_;
      const float a = sum_dyy[c], b = sum_dy[c], sd = sds[c];
      for (int64_t k = r * len; k < (r + 1) * len; ++k) {
        const float t = y[k] * a + b;
        dx[k] = (neg_inv_m * t + dy[k]) / sd;
      }
    }
  });
}

}  // namespace augdrop
