#include "layers/mvn_layer.hpp"

#include <cmath>

namespace augdrop {

void MVNLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("mvn_param");
  normalize_variance_ = p.get_bool("normalize_variance", true);
  across_channels_ = p.get_bool("across_channels", false);
  eps_ = float(p.get_float("eps", 1e-9));
}

void MVNLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->num_axes() <= 4,
           "MVN reads its bottom as (num, channels, height, width): at most 4 axes, got "
               << bottom[0]->shape_string());
  const int64_t num = bottom[0]->LegacyShape(0), channels = bottom[0]->LegacyShape(1);
  const std::vector<int64_t> shape{num, channels, bottom[0]->LegacyShape(2),
                                   bottom[0]->LegacyShape(3)};
  if (bottom[0] == top[0]) {
    AD_CHECK(bottom[0]->num_axes() == 4,
             "MVN in place needs a 4-axis bottom (its top is reshaped to 4 axes), got "
                 << bottom[0]->shape_string());
  } else {
    top[0]->Reshape(shape);
  }
  rows_ = across_channels_ ? num : num * channels;
  dim_ = rows_ > 0 ? bottom[0]->count() / rows_ : 0;
  mean_.Reshape({rows_});
  stddev_.Reshape({rows_});
}

void MVNLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();  // (rows, dim)
  float* y = top[0]->mutable_cpu_data();   // (rows, dim); may alias x
  float* mean = mean_.mutable_cpu_data();
  float* sd = stddev_.mutable_cpu_data();
  for (int64_t r = 0; r < rows_; ++r) {
    const float* xr = x + r * dim_;
    float* yr = y + r * dim_;
    float s = 0.f;
    for (int64_t i = 0; i < dim_; ++i) s += xr[i];
    mean[r] = s / float(dim_);
    for (int64_t i = 0; i < dim_; ++i) yr[i] = xr[i] - mean[r];
    if (!normalize_variance_) continue;
    float sq = 0.f;
    for (int64_t i = 0; i < dim_; ++i) sq += yr[i] * yr[i];
    sd[r] = std::sqrt(sq / float(dim_)) + eps_;
    for (int64_t i = 0; i < dim_; ++i) yr[i] /= sd[r];
  }
}

void MVNLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* y = top[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();  // may alias dy
  const float* sd = stddev_.cpu_data();
  for (int64_t r = 0; r < rows_; ++r) {
    const float* yr = y + r * dim_;
    const float* dyr = dy + r * dim_;
    float* dxr = dx + r * dim_;
    float s = 0.f, d = 0.f;
    for (int64_t i = 0; i < dim_; ++i) {
      s += dyr[i];
      d += dyr[i] * yr[i];
    }
    const float inv_dim = 1.f / float(dim_);
    if (normalize_variance_) {
      for (int64_t i = 0; i < dim_; ++i)
        dxr[i] = (dyr[i] - inv_dim * (yr[i] * d + s)) / sd[r];
    } else {
      for (int64_t i = 0; i < dim_; ++i) dxr[i] = dyr[i] - inv_dim * s;
    }
  }
}

}  // namespace augdrop
