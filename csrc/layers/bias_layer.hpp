// Bias: adds a bias broadcast over the outer and inner axes (Caffe's bias_layer.cpp). The bias
// is a learned param (one bottom) or a second bottom. bottom[0], top: (outer, B, inner) where
// B = the bias's shape at bottom[0]'s axes [axis, axis + its num_axes); in place allowed.
// blobs (one bottom): 0 = bias, shape bottom[0]->shape()[axis : axis + num_axes].
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y[o, b, i] = x[o, b, i] + bias[b].
 *
 * bias_param: axis (1), num_axes (1; -1 extends to the last axis, 0 makes the bias a scalar;
 * ignored with a second bottom, whose own axes count), filler (default constant 0).
 * Backward: dx = dy; dbias[b] = sum_{o, i} dy: accumulated into a learned bias's diff,
 * written over a bias bottom's diff.
 */
class BiasLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Bias"; }
  int MinBottomBlobs() const override { return 1; }
  int MaxBottomBlobs() const override { return 2; }
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
  int64_t outer_dim_ = 0;
  int64_t bias_dim_ = 0;
  int64_t inner_dim_ = 0;
};

}  // namespace augdrop
