// Scale: multiplies by a scale broadcast over the outer and inner axes, plus an optional
// learned bias (Caffe's scale_layer.cpp with its internal Bias layer folded in). The scale is
// a learned param (one bottom) or the second bottom.
// bottom[0]: (outer, S, inner) where S = the scale's shape at bottom[0]'s axes
// [axis, axis + its num_axes); bottom[1] (optional): the scale, (S); top: bottom[0]'s shape;
// in place allowed.
// blobs: one bottom: 0 = scale (shape[axis : axis + num_axes]), 1 = bias (same shape,
// bias_term only); two bottoms: 0 = bias (bottom[1]'s shape, bias_term only).
#pragma once

#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y[o, s, i] = x[o, s, i] * scale[s] (+ bias[s]).
 *
 * scale_param: axis (1), num_axes (1; -1 extends to the last axis, 0 makes scale a scalar),
 * filler (default constant 1), bias_term (false), bias_filler (default constant 0).
 * Backward: dx = dy * scale[s]; dscale[s] = sum_{o,i} dy * x (accumulated into a learned
 * scale's diff, written over a scale bottom's diff); dbias[s] += sum_{o,i} dy.
 * In place, the bottom data is kept in a copy for dscale, as Caffe does.
 */
class ScaleLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Scale"; }
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
  // The scale: bottom[1] when given, else the learned blobs_[0].
  Blob* ScaleBlob(const BlobVec& bottom) const {
    return bottom.size() > 1 ? bottom[1] : blobs_[0].get();
  }

  bool bias_term_ = false;
  int bias_param_id_ = -1;  // index of the bias in blobs_ (bias_term only)
  int axis_ = 1;
  int64_t outer_dim_ = 0;
  int64_t scale_dim_ = 0;
  int64_t inner_dim_ = 0;
  Blob temp_;        // bottom data copy when computing in place
  Blob sum_result_;  // (outer, S): per-row sums for dscale and dbias, on either side
};

}  // namespace augdrop
