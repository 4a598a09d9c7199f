// Reduction: each row of the bottom reduced to one number (Caffe's reduction_layer.cpp).
// bottom: (d_0, ..., d_{axis-1}, rest...); top: (d_0, ..., d_{axis-1}) (a scalar for axis 0).
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y[r] = coeff * op(x[r, :]) over the axes from reduction_param.axis (default 0) on:
 *        SUM (default): sum_k x;  ASUM: sum_k |x|;  SUMSQ: sum_k x^2;  MEAN: sum_k x / dim.
 *
 * Backward: dx[r, k] = coeff' dy[r] * (1 | sign(x) | 2x), coeff' = coeff (MEAN: coeff / dim).
 * Only tail axes are reduced, as in Caffe.
 */
class ReductionLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Reduction"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }

  enum class Op { SUM, ASUM, SUMSQ, MEAN };

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
  Op op_ = Op::SUM;
  int axis_ = 0;
  int64_t num_ = 0;    // rows: count of the axes before axis_
  int64_t dim_ = 0;    // row length: count from axis_ on
  float coeff_ = 1.f;  // reduction_param.coeff, divided by dim_ for MEAN
};

}  // namespace augdrop
