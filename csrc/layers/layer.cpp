#include "layers/layer.hpp"

#include "core/mode.hpp"
#include "math/math_functions.hpp"

namespace augdrop {

Layer::Layer(const Params& layer_param, Phase phase)
    : layer_param_(layer_param), phase_(phase), name_(layer_param.get_string("name", "")) {
  // Params given in the prototxt (`blobs`) are loaded by Net from the weights, not here.
}

void Layer::SetUp(const BlobVec& bottom, const BlobVec& top) {
  CheckBlobCounts(bottom, top);
  LayerSetUp(bottom, top);
  Reshape(bottom, top);
  SetLossWeights(top);
}

float Layer::Forward(const BlobVec& bottom, const BlobVec& top) {
  Reshape(bottom, top);
  if (GetMode() == Mode::GPU) {
    Forward_gpu(bottom, top);
  } else {
    Forward_cpu(bottom, top);
  }
  float loss = 0;
  for (size_t i = 0; i < top.size(); ++i) {
    if (this->loss(int(i)) == 0) continue;
    loss += cpu_dot(top[i]->count(), top[i]->cpu_data(), top[i]->cpu_diff());
  }
  return loss;
}

void Layer::Backward(const BlobVec& top, const std::vector<bool>& propagate_down,
                     const BlobVec& bottom) {
  if (GetMode() == Mode::GPU) {
    Backward_gpu(top, propagate_down, bottom);
  } else {
    Backward_cpu(top, propagate_down, bottom);
  }
}

void Layer::set_loss(int top_index, float value) {
  if (int(loss_.size()) <= top_index) loss_.resize(top_index + 1, 0.f);
  loss_[top_index] = value;
}

void Layer::set_param_propagate_down(int i, bool value) {
  if (int(param_propagate_down_.size()) <= i) param_propagate_down_.resize(i + 1, true);
  param_propagate_down_[i] = value;
}

void Layer::CheckBlobCounts(const BlobVec& bottom, const BlobVec& top) const {
  const int nb = int(bottom.size()), nt = int(top.size());
  if (ExactNumBottomBlobs() >= 0)
    AD_CHECK(nb == ExactNumBottomBlobs(), type() << " layer takes " << ExactNumBottomBlobs()
                                                 << " bottom blob(s), got " << nb);
  if (MinBottomBlobs() >= 0)
    AD_CHECK(nb >= MinBottomBlobs(), type() << " layer takes at least " << MinBottomBlobs()
                                            << " bottom blob(s), got " << nb);
  if (MaxBottomBlobs() >= 0)
    AD_CHECK(nb <= MaxBottomBlobs(), type() << " layer takes at most " << MaxBottomBlobs()
                                            << " bottom blob(s), got " << nb);
  if (ExactNumTopBlobs() >= 0)
    AD_CHECK(nt == ExactNumTopBlobs(), type() << " layer produces " << ExactNumTopBlobs()
                                              << " top blob(s), got " << nt);
  if (MinTopBlobs() >= 0)
    AD_CHECK(nt >= MinTopBlobs(), type() << " layer produces at least " << MinTopBlobs()
                                         << " top blob(s), got " << nt);
  if (MaxTopBlobs() >= 0)
    AD_CHECK(nt <= MaxTopBlobs(), type() << " layer produces at most " << MaxTopBlobs()
                                         << " top blob(s), got " << nt);
  if (EqualNumBottomTopBlobs())
    AD_CHECK(nb == nt, type() << " layer needs as many tops as bottoms, got " << nb
                              << " bottoms and " << nt << " tops");
}

void Layer::SetLossWeights(const BlobVec& top) {
  const std::vector<double> weights = layer_param_.get_floats("loss_weight");
  if (weights.empty()) return;
  AD_CHECK(weights.size() == top.size(),
           "loss_weight must be given once per top blob (" << top.size() << " tops, "
                                                           << weights.size() << " weights)");
  for (size_t i = 0; i < top.size(); ++i) {
    const float w = static_cast<float>(weights[i]);
    if (w == 0) continue;
    set_loss(int(i), w);
    cpu_set(top[i]->count(), w, top[i]->mutable_cpu_diff());
  }
}

int64_t ReadSpatialField(const Params& p, const std::string& field,
                         const std::string& field_h_or_w, int64_t def) {
  if (p.has(field_h_or_w)) return p.get_int(field_h_or_w, def);
  return p.get_int(field, def);
}

}  // namespace augdrop
