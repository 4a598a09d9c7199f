#include "layers/threshold_layer.hpp"

namespace augdrop {

void ThresholdLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  threshold_ = float(layer_param_.get_message("threshold_param").get_float("threshold", 0));
}

void ThresholdLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  const int64_t n = bottom[0]->count();
  const float threshold = threshold_;
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > threshold ? 1.f : 0.f;
}

void ThresholdLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                  const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  AD_FAIL("Threshold layer has no backward pass (nor has Caffe's)");
}

}  // namespace augdrop
