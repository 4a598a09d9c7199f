// NeuronLayer: the base of the elementwise layers (Caffe's include/caffe/layers/neuron_layer.hpp).
// One bottom, one top of the bottom's shape; in place (top == bottom) is allowed unless a layer
// says otherwise. A subclass supplies its formula: Forward_cpu/Backward_cpu and the GPU twins.
#pragma once

#include "layers/layer.hpp"

namespace augdrop {

class NeuronLayer : public Layer {
 public:
  using Layer::Layer;
  // top: the bottom's shape.
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {
    top[0]->ReshapeLike(*bottom[0]);
  }
  int ExactNumBottomBlobs() const override { return 1; }
  int ExactNumTopBlobs() const override { return 1; }
};

// Declares the four compute methods of a NeuronLayer subclass (the GPU ones under CUDA).
#ifdef AUGDROP_WITH_CUDA
#define AD_NEURON_GPU_METHODS                                                               \
  void Forward_gpu(const BlobVec& bottom, const BlobVec& top) override;                     \
  void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,            \
                    const BlobVec& bottom) override;
#else
#define AD_NEURON_GPU_METHODS
#endif
#define AD_NEURON_METHODS                                                                   \
 protected:                                                                                 \
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;                     \
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,            \
                    const BlobVec& bottom) override;                                        \
  AD_NEURON_GPU_METHODS

}  // namespace augdrop
