// Parameter: a learned blob as the output of a layer without bottoms (Caffe's
// parameter_layer.hpp). top: parameter_param.shape, sharing data and diff with the param.
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

/**
 * @brief y = W, W a param of parameter_param.shape (zero at first: no filler, as in Caffe).
 *
 * No copy: the top shares the param's data and diff, so the top's diff is the param's
 * gradient and backward computes nothing. No .cu twin: nothing runs on the device (Caffe has
 * none either).
 */
class ParameterLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  // The shape is set once, at set-up, as in Caffe.
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "Parameter"; }
  int ExactNumBottomBlobs() const override { return 0; }
  int ExactNumTopBlobs() const override { return 1; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}
};

}  // namespace augdrop
