// Filter: keeps the items (rows along axis 0) whose selector is nonzero (Caffe's
// filter_layer.cpp). bottom[0..K-1]: (N, ...); bottom[K], the selector: (N) or (N, 1, ...);
// top[k]: (M, ...) for the M selected items, in order. K tops for K + 1 bottoms.
#pragma once

#include <memory>

#include "core/synced_memory.hpp"
#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y_k[m] = x_k[s_m], s_0 < s_1 < ... the items whose selector value is nonzero.
 *
 * The tops' first axis follows the selector at every forward pass; at set-up it is N (as in
 * Caffe, whose first Reshape keeps every item). Backward: dx_k[s_m] = dy_k[m], the rest 0;
 * the selector takes no gradient (asking for one is an error, as in Caffe).
 */
class FilterLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Filter"; }
  int MinBottomBlobs() const override { return 2; }
  int MinTopBlobs() const override { return 1; }

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
  bool first_reshape_ = true;
  int64_t num_items_ = 0;     // N
  int64_t num_selected_ = 0;  // M
  // (2 N) int64: the selected items s_0..s_{M-1} (first M entries), then for each item n its
  // place m in the top, or -1 (the last N entries).
  std::unique_ptr<SyncedMemory> selection_;
};

}  // namespace augdrop
