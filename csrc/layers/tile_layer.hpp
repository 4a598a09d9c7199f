// Tile: the bottom repeated along one axis (Caffe's tile_layer.cpp).
// bottom: (o_0.., d, i_0..); top: (o_0.., tiles * d, i_0..), the block x[o, :, ...] repeated.
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y[o, t, :] = x[o, :] for t < tiles, where o runs over the axes before tile_param.axis
 *        (default 1) and ":" is the rest from that axis on; tiles must be given, > 0.
 *
 * Backward: dx[o, :] = sum_t dy[o, t, :], the tiles added in order.
 */
class TileLayer : public Layer {
 public:
  using Layer::Layer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Tile"; }
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
  int axis_ = 1;
  int64_t tiles_ = 1;
  int64_t outer_dim_ = 0;  // count of the axes before axis_
  int64_t inner_dim_ = 0;  // count from axis_ on (the block that is repeated)
};

}  // namespace augdrop
