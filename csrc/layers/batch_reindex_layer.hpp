// BatchReindex: items (rows along axis 0) picked by index, with repeats (Caffe's
// batch_reindex_layer.cpp). bottom[0]: (N, ...); bottom[1], the indices: (M); top: (M, ...).
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y[m] = x[p_m], each p_m in [0, N) (a float holding an integer, truncated).
 *
 * Backward: dx[n] = sum of dy[m] over the m with p_m = n, in m order (0 where n is never
 * picked); the indices take no gradient (asking for one is an error, as in Caffe).
 */
class BatchReindexLayer : public Layer {
 public:
  using Layer::Layer;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "BatchReindex"; }
  int ExactNumBottomBlobs() const override { return 2; }
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
  // Caffe's check_batch_reindex: every index in [0, N), read on the host.
  void CheckIndices(const BlobVec& bottom) const;
};

}  // namespace augdrop
