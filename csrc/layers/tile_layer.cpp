#include "layers/tile_layer.hpp"

#include "math/math_functions.hpp"

namespace augdrop {

void TileLayer::Reshape(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("tile_param");
  axis_ = bottom[0]->CanonicalAxisIndex(int(p.get_int("axis", 1)));
  AD_CHECK(p.has("tiles"), "Number of tiles must be specified");
  tiles_ = p.get_int("tiles", 1);
  AD_CHECK(tiles_ > 0, "Number of tiles must be positive (tiles: " << tiles_ << ")");
  std::vector<int64_t> top_shape = bottom[0]->shape();
  top_shape[axis_] = bottom[0]->shape(axis_) * tiles_;
  top[0]->Reshape(top_shape);
  outer_dim_ = bottom[0]->count(0, axis_);
  inner_dim_ = bottom[0]->count(axis_);
}

void TileLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->cpu_data();
  float* y = top[0]->mutable_cpu_data();
  for (int64_t o = 0; o < outer_dim_; ++o) {
    for (int64_t t = 0; t < tiles_; ++t) {
      cpu_copy(inner_dim_, x, y);
      y += inner_dim_;
    }
    x += inner_dim_;
  }
}

void TileLayer::Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                             const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const float* dy = top[0]->cpu_diff();
  float* dx = bottom[0]->mutable_cpu_diff();
  for (int64_t o = 0; o < outer_dim_; ++o) {
    cpu_copy(inner_dim_, dy, dx);
    dy += inner_dim_;
    for (int64_t t = 1; t < tiles_; ++t) {
      cpu_axpy(inner_dim_, 1.f, dy, dx);
      dy += inner_dim_;
    }
    dx += inner_dim_;
  }
}

}  // namespace augdrop
