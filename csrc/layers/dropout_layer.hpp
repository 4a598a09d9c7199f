// Dropout, as upstream Caffe's dropout_layer.cpp (one parameter: dropout_ratio r).
// TRAIN: mask m ~ Bernoulli(1 - r) from the Caffe stream, one word per element;
//        top = x * m * float(1 / (1 - r)); bottom_diff = top_diff * m * scale.
// TEST: identity.
#pragma once

#include <cstdint>

#include "core/synced_buffer.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class DropoutLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Dropout"; }
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
  float threshold_ = 0.5f;
  float scale_ = 2.f;
  // (count): the keep mask, 0 or 1 per element, on the host or the device (Caffe's
  // Blob<unsigned int> rand_vec_)
  SyncedBuffer<uint32_t> rand_vec_;
};

// Caffe's dropout ratio rules shared by Dropout and AugmentedDropout: r in [0, 1).
float CheckedDropoutRatio(double ratio, const char* field);
// float(1 / (1 - r)) computed in double, as Caffe's `scale_ = 1. / (1. - threshold_)`.
float DropoutScale(float ratio);
// The Caffe stream's keep mask: m[i] = 1 with probability 1 - ratio.
void DrawKeepMask(int64_t count, float ratio, uint32_t* mask);
#ifdef AUGDROP_WITH_CUDA
// The same for the GPU mode: keep (resized to count) gets 1 with probability 1 - ratio, else
// 0, from the source GetGpuMasks() names (core/mode.hpp); the CAFFE_STREAM source draws on the
// host and SyncedMemory copies the mask over.
void DrawKeepMaskGpu(int64_t count, float ratio, SyncedBuffer<uint32_t>* keep);
// y = x * keep * scale on the GPU, in the CPU path's order of multiplication.
void ApplyKeepMaskGpu(int64_t count, const float* x, const SyncedBuffer<uint32_t>& keep,
                      float scale, float* y);
#endif

}  // namespace augdrop
