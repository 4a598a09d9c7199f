#include "layers/contrastive_loss_layer.hpp"

#include <algorithm>
#include <cmath>

#include "math/math_functions.hpp"

namespace augdrop {

void ContrastiveLossLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::LayerSetUp(bottom, top);
  const Params& p = layer_param_.get_message("contrastive_loss_param");
  margin_ = float(p.get_float("margin", 1.0));
  legacy_version_ = p.get_bool("legacy_version", false);
}

void ContrastiveLossLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  LossLayer::Reshape(bottom, top);
  // Caffe's checks on the legacy (num, channels, height, width) view.
  for (int i = 0; i < 3; ++i)
    AD_CHECK(bottom[i]->num_axes() <= 4 && bottom[i]->LegacyShape(2) == 1 &&
                 bottom[i]->LegacyShape(3) == 1 && (i < 2 || bottom[i]->LegacyShape(1) == 1),
             "ContrastiveLoss takes features (N, C, 1, 1) and a pair label (N, 1, 1, 1); bottom["
                 << i << "] is " << bottom[i]->shape_string());
  AD_CHECK(bottom[0]->LegacyShape(1) == bottom[1]->LegacyShape(1),
           "the two features differ in channels: " << bottom[0]->shape_string() << " and "
                                                   << bottom[1]->shape_string());
  AD_CHECK(bottom[2]->shape(0) == bottom[0]->shape(0),
           "one pair label per pair: " << bottom[2]->shape_string() << " for "
                                       << bottom[0]->shape_string());
  num_ = bottom[0]->shape(0);
  channels_ = bottom[0]->LegacyShape(1);
  diff_.Reshape({num_, channels_});
  dist_sq_.Reshape({num_});
}

float ContrastiveLossLayer::LossFromDistances(int64_t num, const float* dist_sq,
                                              const float* y) const {
  float loss = 0.f;
  for (int64_t n = 0; n < num; ++n) {
    if (static_cast<int>(y[n])) {  // similar pair
      loss += dist_sq[n];
    } else if (legacy_version_) {
      loss += std::max(margin_ - dist_sq[n], 0.f);
    } else {
      const float d = std::max(margin_ - std::sqrt(dist_sq[n]), 0.f);
      loss += d * d;
    }
  }
  return loss / float(num) / 2.f;
}

void ContrastiveLossLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = bottom[0]->count();
  const float* a = bottom[0]->cpu_data();  // (N, C)
  const float* b = bottom[1]->cpu_data();
  float* d = diff_.mutable_cpu_data();
  for (int64_t i = 0; i < count; ++i) d[i] = a[i] - b[i];
  float* dist_sq = dist_sq_.mutable_cpu_data();
  for (int64_t n = 0; n < num_; ++n)
    dist_sq[n] = cpu_dot(channels_, d + n * channels_, d + n * channels_);
  top[0]->mutable_cpu_data()[0] = LossFromDistances(num_, dist_sq, bottom[2]->cpu_data());
}

void ContrastiveLossLayer::Backward_cpu(const BlobVec& top,
                                        const std::vector<bool>& propagate_down,
                                        const BlobVec& bottom) {
  const float* y = bottom[2]->cpu_data();
  const float* d = diff_.cpu_data();
  const float* dist_sq = dist_sq_.cpu_data();
  for (int i = 0; i < 2; ++i) {
    if (!propagate_down[i]) continue;
    const float sign = i == 0 ? 1.f : -1.f;
    const float alpha = sign * top[0]->cpu_diff()[0] / float(num_);
    float* dx = bottom[i]->mutable_cpu_diff();
    for (int64_t n = 0; n < num_; ++n) {
      const float* dn = d + n * channels_;
      float* out = dx + n * channels_;
      float beta = alpha;
      if (!static_cast<int>(y[n])) {
        float mdist;
        if (legacy_version_) {
          mdist = margin_ - dist_sq[n];
          beta = -alpha;
        } else {
          const float dist = std::sqrt(dist_sq[n]);
          mdist = margin_ - dist;
          beta = -alpha * mdist / (dist + 1e-4f);
        }
        if (!(mdist > 0.f)) beta = 0.f;
      }
      for (int64_t c = 0; c < channels_; ++c) out[c] = beta * dn[c];
    }
  }
}

}  // namespace augdrop
