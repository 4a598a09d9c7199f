// AugmentedDropout: the paper's four dropout variants in one layer (DESIGN.md, Algorithm 1).
//   m_f ~ Bernoulli(1 - p_f) / (1 - p_f)  (forward mask),  m_e ~ Bernoulli(1 - p_b) / (1 - p_b)
//   variant     forward top   backward mask m_b
//   STANDARD    x * m_f       m_f              (identical to Caffe's Dropout, same stream use)
//   FORWARD     x * m_f       1
//   BACKWARD    x             m_e
//   AUGMENTED   x * m_f       m_f * m_e        (m_e drawn right after m_f)
// Backward: bottom_diff = top_diff * m_b. With mask_backward_features (default), before the
// net's backward pass the top data is rewritten to the backward features x * m_b, so that the
// consumer's weight gradient is delta (x * m_b)^T as Algorithm 1 asks. TEST: identity.
#pragma once

#include <cstdint>

#include "core/synced_buffer.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class AugmentedDropoutLayer : public Layer {
 public:
  enum class Variant { STANDARD, FORWARD, BACKWARD, AUGMENTED };

  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  void PrepareBackward(const BlobVec& bottom, const BlobVec& top) override;
  bool RewritesTopBeforeBackward() const override { return RewritesTop(); }
  const char* type() const override { return "AugmentedDropout"; }
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
  // True when x * m_b differs from the forward output, so the top must be rewritten.
  bool RewritesTop() const;
#ifdef AUGDROP_WITH_CUDA
  void PrepareBackward_gpu(const BlobVec& top);
#endif

  Variant variant_ = Variant::AUGMENTED;
  float forward_ratio_ = 0.5f, backward_ratio_ = 0.f;
  float forward_scale_ = 2.f, backward_scale_ = 1.f;
  bool mask_backward_features_ = true;
  bool forward_done_ = false;  // a TRAIN forward pass has drawn masks
  // State of the last TRAIN forward, one buffer each, read by the CPU and GPU paths alike:
  SyncedBuffer<uint32_t> forward_keep_;  // (count): the 0/1 draws of m_f (when drawn)
  SyncedBuffer<uint32_t> extra_keep_;    // (count): the 0/1 draws of m_e (when drawn)
  Blob backward_mask_;                   // (count): m_b (scaled)
  Blob input_copy_;  // x, kept for the rewrite (the forward may be in place)
};

}  // namespace augdrop
