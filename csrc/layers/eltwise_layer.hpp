// Eltwise: element-wise product, (weighted) sum or maximum of equally shaped bottoms
// (Caffe's eltwise_layer.cpp).
// bottom[0..B-1]: same shape, B >= 2; top: that shape.
#pragma once

#include <cstdint>
#include <vector>

#include "core/synced_buffer.hpp"
#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief Element-wise combination of B >= 2 bottoms, per eltwise_param.operation:
 *        PROD: y = prod_b x_b;  SUM (default): y = sum_b coeff_b x_b;  MAX: y = max_b x_b.
 *
 * coeff: one per bottom (SUM only; default all 1). Backward:
 * PROD: dx_b = dy * prod_{b' != b} x_b' (stable_prod_grad, default true) or dy * y / x_b;
 * SUM: dx_b = coeff_b dy;  MAX: dx_b = dy where bottom b was the argmax, else 0.
 * MAX ties as in Caffe: between bottoms 0 and 1 bottom 1 wins (x0 > x1 picks 0), and a later
 * bottom (2, 3, ...) replaces the current max only when strictly greater.
 */
class EltwiseLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Eltwise"; }
  int MinBottomBlobs() const override { return 2; }
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
  enum class Op { PROD, SUM, MAX };
  Op op_ = Op::SUM;
  std::vector<float> coeffs_;   // (B)
  // (count): index of the bottom holding the max (MAX only), on the host or the device
  SyncedBuffer<int32_t> max_idx_;
  bool stable_prod_grad_ = true;
};

}  // namespace augdrop
