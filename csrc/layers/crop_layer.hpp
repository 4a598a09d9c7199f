// Crop: bottom[0] cut to the shape of bottom[1] from crop_param.axis on (Caffe's
// crop_layer.cpp). bottom[0]: (d_0, ..., d_{n-1}); bottom[1] gives the sizes of the axes
// >= axis; top: (d_0, ..., d_{axis-1}, s_axis, ..., s_{n-1}).
#pragma once

#include <memory>

#include "core/synced_memory.hpp"
#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y[i] = x[i + offset] on the axes from crop_param.axis (default 2; negative counts
 *        from the end), the axes before it kept whole.
 *
 * crop_param.offset: none (all 0), one (for every cropped axis), or one per cropped axis.
 * Backward: dx = 0 but for the cropped window, which takes dy; bottom[1] only gives a shape and
 * gets no gradient.
 */
class CropLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override;
  const char* type() const override { return "Crop"; }
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
  // The index of bottom[0]'s element under top element `index`.
  int64_t BottomIndex(int64_t index) const;

  int num_axes_ = 0;
  // (3, num_axes_) int64: each axis' offset, bottom[0]'s strides, the top's strides; read by
  // the host loops and by the kernels.
  std::unique_ptr<SyncedMemory> layout_;
};

}  // namespace augdrop
