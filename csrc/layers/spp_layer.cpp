#include "layers/spp_layer.hpp"

#include <cmath>

#include "math/math_functions.hpp"

namespace augdrop {

void SPPLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("spp_param");
  AD_CHECK(p.has("pyramid_height"), "spp_param.pyramid_height is required");
  pyramid_height_ = p.get_int("pyramid_height", 0);
  AD_CHECK(pyramid_height_ >= 1 && pyramid_height_ <= 16,
           "spp_param.pyramid_height must be from 1 to 16, got " << pyramid_height_);
  pool_ = p.get_string("pool", "MAX");
  AD_CHECK(bottom[0]->num_axes() == 4, "SPP needs a 4-d bottom (N, C, H, W), got "
                                           << bottom[0]->shape_string());
  AD_CHECK(bottom[0]->shape(2) > 0 && bottom[0]->shape(3) > 0, "input dimensions cannot be zero");
  height_ = width_ = -1;
}

void SPPLayer::BuildLevels(const Blob& bottom) {
  height_ = bottom.shape(2);
  width_ = bottom.shape(3);
  levels_.clear();
  pooled_.clear();
  for (int64_t l = 0; l < pyramid_height_; ++l) {
    const int64_t bins = int64_t(1) << l;
    auto pooling_param = std::make_shared<Params>();
    // kernel and pad so that the bins cover the whole image (spp_layer.cpp's GetPoolingParam)
    const int64_t kernel_h = (height_ + bins - 1) / bins, kernel_w = (width_ + bins - 1) / bins;
    pooling_param->set("kernel_h", kernel_h);
    pooling_param->set("kernel_w", kernel_w);
    pooling_param->set("stride_h", kernel_h);
    pooling_param->set("stride_w", kernel_w);
    pooling_param->set("pad_h", (kernel_h * bins - height_ + 1) / 2);
    pooling_param->set("pad_w", (kernel_w * bins - width_ + 1) / 2);
    pooling_param->set("pool", pool_);
    Params layer_param;
    layer_param.set("name", name_ + "/level" + std::to_string(l));
    layer_param.set("type", std::string("Pooling"));
    layer_param.set("pooling_param", pooling_param);
    levels_.push_back(std::make_unique<PoolingLayer>(layer_param, phase_));
    pooled_.push_back(std::make_unique<Blob>());
    Blob* b = const_cast<Blob*>(&bottom);
    levels_.back()->SetUp({b}, {pooled_.back().get()});
  }
}

void SPPLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->num_axes() == 4, "SPP needs a 4-d bottom (N, C, H, W), got "
                                           << bottom[0]->shape_string());
  if (bottom[0]->shape(2) != height_ || bottom[0]->shape(3) != width_) BuildLevels(*bottom[0]);
  offsets_.assign(1, 0);
  for (size_t l = 0; l < levels_.size(); ++l) {
    levels_[l]->Reshape(bottom, {pooled_[l].get()});
    offsets_.push_back(offsets_.back() + pooled_[l]->count(1));
  }
  if (pyramid_height_ == 1) {
    top[0]->Reshape(pooled_[0]->shape());
  } else {
    top[0]->Reshape({bottom[0]->shape(0), offsets_.back()});
  }
  level_diff_.Reshape(bottom[0]->shape());
}

void SPPLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t num = bottom[0]->shape(0), row = top[0]->count(1);
  float* y = top[0]->mutable_cpu_data();
  for (size_t l = 0; l < levels_.size(); ++l) {
    levels_[l]->Forward(bottom, {pooled_[l].get()});
    const int64_t dim = pooled_[l]->count(1);
    const float* p = pooled_[l]->cpu_data();
    for (int64_t n = 0; n < num; ++n) cpu_copy(dim, p + n * dim, y + n * row + offsets_[l]);
  }
}

void SPPLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t num = bottom[0]->shape(0), row = top[0]->count(1);
  const float* dy = top[0]->cpu_diff();
  for (size_t l = 0; l < levels_.size(); ++l) {
    const int64_t dim = pooled_[l]->count(1);
    float* dp = pooled_[l]->mutable_cpu_diff();
    for (int64_t n = 0; n < num; ++n) cpu_copy(dim, dy + n * row + offsets_[l], dp + n * dim);
    // level 0 writes the bottom diff, the others are added to it
    Blob* target = l == 0 ? bottom[0] : &level_diff_;
    levels_[l]->Backward({pooled_[l].get()}, {true}, {target});
    if (l > 0) cpu_axpy(bottom[0]->count(), 1.f, level_diff_.cpu_diff(), bottom[0]->mutable_cpu_diff());
  }
}

}  // namespace augdrop
