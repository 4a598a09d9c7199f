#include "layers/prelu_layer.hpp"

#include <algorithm>
#include <memory>
#include <string>

#include "core/filler.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

void PReLULayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->num_axes() >= 2,
           "Number of axes of bottom blob must be >=2, got " << bottom[0]->shape_string());
  const Params& p = layer_param_.get_message("prelu_param");
  channel_shared_ = p.get_bool("channel_shared", false);
  const int64_t channels = bottom[0]->shape(1);
  blobs_.clear();
  blobs_.push_back(std::make_shared<Blob>(channel_shared_ ? std::vector<int64_t>{}
                                                          : std::vector<int64_t>{channels}));
  if (p.has("filler")) {
    FillBlob(p.get_message("filler"), blobs_[0].get());
  } else {
    Params quarter;  // Caffe's default slope
    quarter.set("type", std::string("constant"));
    quarter.set("value", 0.25);
    FillBlob(quarter, blobs_[0].get());
  }
  param_propagate_down_.assign(1, true);
}

void PReLULayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->num_axes() >= 2,
           "Number of axes of bottom blob must be >=2, got " << bottom[0]->shape_string());
  AD_CHECK(channel_shared_ || bottom[0]->shape(1) == blobs_[0]->count(),
           "Negative slope size is inconsistent with prototxt config: " << blobs_[0]->count()
               << " slopes for " << bottom[0]->shape(1) << " channels");
  top[0]->ReshapeLike(*bottom[0]);
  if (bottom[0] == top[0]) bottom_memory_.ReshapeLike(*bottom[0]);
}

void PReLULayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t count = bottom[0]->count();
  const int64_t dim = bottom[0]->count(2);
  const int64_t channels = bottom[0]->shape(1);
  if (bottom[0] == top[0])
    cpu_copy(count, bottom[0]->cpu_data(), bottom_memory_.mutable_cpu_data());
  const float* x = bottom[0]->cpu_data();  // (N, C, dim)
  const float* slope = blobs_[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();  // may alias x
  for (int64_t i = 0; i < count; ++i) {
    const int64_t c = channel_shared_ ? 0 : (i / dim) % channels;
    y[i] = std::max(x[i], 0.f) + slope[c] * std::min(x[i], 0.f);
  }
}

void PReLULayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  const int64_t count = bottom[0]->count();
  const int64_t dim = bottom[0]->count(2);
  const int64_t channels = bottom[0]->shape(1);
  const float* x = (bottom[0] == top[0] ? &bottom_memory_ : bottom[0])->cpu_data();
  const float* slope = blobs_[0]->cpu_data();
  const float* dy = top[0]->cpu_diff();
  // The slope gradient first: in place, writing dx overwrites dy.
  if (param_propagate_down(0)) {
    float* dslope = blobs_[0]->mutable_cpu_diff();
    for (int64_t i = 0; i < count; ++i) {
      const int64_t c = channel_shared_ ? 0 : (i / dim) % channels;
      dslope[c] += dy[i] * x[i] * (x[i] <= 0);
    }
  }
  if (propagate_down[0]) {
    float* dx = bottom[0]->mutable_cpu_diff();
    for (int64_t i = 0; i < count; ++i) {
      const int64_t c = channel_shared_ ? 0 : (i / dim) % channels;
      dx[i] = dy[i] * ((x[i] > 0) + slope[c] * (x[i] <= 0));
    }
  }
}

}  // namespace augdrop
