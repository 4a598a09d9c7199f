// Pooling, MAX, AVE and STOCHASTIC, 2-d (Caffe's pooling_layer.cpp and, for STOCHASTIC, its
// pooling_layer.cu: Caffe has no CPU path for it).
// bottom: (N, C, H, W); top: (N, C, H_out, W_out) with Caffe's ceil rule
// H_out = ceil((H + 2 pad - k) / stride) + 1, less one if the last window starts in the padding.
// MAX routes the gradient to the first maximum of each window; AVE divides by the window size
// counted over the padded input (clipped at H + pad), as Caffe does.
// STOCHASTIC (no padding; windows clipped to the image): in TRAIN, with u ~ U[0, 1) per top
// element drawn from Caffe's stream in top order, the first x of the window (row-major) whose
// running sum reaches u * sum(window) is the output, and takes the gradient; in TEST the
// output is sum(x^2) / sum(x) over the window (0 where sum(x) <= 0), with no backward pass.
// DEVIATION: Caffe draws u with cuRAND on the device; here from its CPU stream
// (caffe_rng_uniform) in both modes, so CPU and GPU runs of one seed sample alike. Where no
// running sum reaches the threshold (negative inputs), Caffe leaves the output unwritten; here
// the window's last element is taken.
#pragma once

#include <memory>

#include "core/synced_memory.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class PoolingLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Pooling"; }
  int ExactNumBottomBlobs() const override { return 1; }
  int MinTopBlobs() const override { return 1; }
  // MAX may output its argmax as a second top, as Caffe does.
  int MaxTopBlobs() const override { return method_ == Method::MAX ? 2 : 1; }

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
  // One (n, c) plane; KH, KW > 0 give windows inside the image a fixed-size loop.
  template <int KH, int KW>
  void ForwardPlane(const float* xin, float* yout, int32_t* arg) const;
  template <int KH, int KW>
  void BackwardPlane(const float* dyout, float* dxin, const int32_t* arg) const;
  // MAX forward of one plane, kVec output columns at a time, with a thread's scratch for the
  // plane's rows split by column phase (height * stride_w runs of PhaseRun() floats).
  void MaxPlaneVectors(const float* xin, float* yout, int32_t* arg, float* phases) const;
  // (+ 16: a whole vector of slack past the last output, kVec <= 16)
  int64_t PhaseRun() const { return pooled_w_ + (kernel_w_ + stride_w_ - 1) / stride_w_ + 16; }

  // STOCHASTIC of one plane: u the uniforms (TRAIN) or null (TEST).
  void StochasticPlane(const float* xin, float* yout, int32_t* arg, const float* u) const;

  enum class Method { MAX, AVE, STOCHASTIC };
  Method method_ = Method::MAX;
  bool global_ = false;
  bool ceil_mode_ = true;
  int64_t kernel_h_ = 0, kernel_w_ = 0, stride_h_ = 1, stride_w_ = 1, pad_h_ = 0, pad_w_ = 0;
  int64_t height_ = 0, width_ = 0, pooled_h_ = 0, pooled_w_ = 0;
  // MAX and STOCHASTIC (TRAIN): the chosen bottom offset within the (n, c) plane, int32 per
  // top element; one buffer for both modes (Caffe's max_idx_ / rand_idx_).
  std::unique_ptr<SyncedMemory> argmax_;
  Blob uniforms_;                // STOCHASTIC, TRAIN: u per top element
  std::vector<float> phases_;    // MAX: MaxPlaneVectors' scratch, per thread
};

}  // namespace augdrop
