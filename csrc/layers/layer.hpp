// The layer interface, as Caffe's Layer (include/caffe/layer.hpp): SetUp once, then
// Forward (Reshape + Forward_cpu + loss) and Backward. Parameter diffs accumulate; bottom
// diffs are overwritten. Errors throw augdrop::Error; Net prefixes them with the layer's name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/blob.hpp"
#include "core/errors.hpp"
#include "core/params.hpp"

namespace augdrop {

enum class Phase { TRAIN, TEST };

using BlobVec = std::vector<Blob*>;

class Layer {
 public:
  // layer_param: the whole LayerParameter message (name, type, *_param, ...).
  Layer(const Params& layer_param, Phase phase);
  virtual ~Layer() = default;

  void SetUp(const BlobVec& bottom, const BlobVec& top);
  float Forward(const BlobVec& bottom, const BlobVec& top);
  void Backward(const BlobVec& top, const std::vector<bool>& propagate_down,
                const BlobVec& bottom);
  // Called by Net::Backward for every layer, in forward order, before any Backward: the
  // hook where AugmentedDropout rewrites its top data to the backward features x*m_b.
  virtual void PrepareBackward(const BlobVec& bottom, const BlobVec& top) {}
  // True for a layer whose PrepareBackward rewrites its top data.
  virtual bool RewritesTopBeforeBackward() const { return false; }

  // State beyond the params that an exact resume needs (a data cursor, a private random
  // stream), as text; empty for most layers.
  virtual std::string SaveState() const { return ""; }
  virtual void LoadState(const std::string& state) {}

  virtual void LayerSetUp(const BlobVec& bottom, const BlobVec& top) {}
  virtual void Reshape(const BlobVec& bottom, const BlobVec& top) = 0;
  virtual const char* type() const = 0;
  // The implementation in use where a layer has several (shown by `augdrop-caffe time`).
  virtual std::string engine() const { return ""; }

  virtual int ExactNumBottomBlobs() const { return -1; }
  virtual int MinBottomBlobs() const { return -1; }
  virtual int MaxBottomBlobs() const { return -1; }
  virtual int ExactNumTopBlobs() const { return -1; }
  virtual int MinTopBlobs() const { return -1; }
  virtual int MaxTopBlobs() const { return -1; }
  virtual bool EqualNumBottomTopBlobs() const { return false; }
  // Loss layers: the label input never takes a gradient, even with force_backward.
  virtual bool AllowForceBackward(int bottom_index) const { return true; }
  // Layers such as Accuracy have no backward pass at all.
  virtual bool HasBackward() const { return true; }

  const std::string& name() const { return name_; }
  const Params& layer_param() const { return layer_param_; }
  Phase phase() const { return phase_; }
  std::vector<std::shared_ptr<Blob>>& blobs() { return blobs_; }
  float loss(int top_index) const { return top_index < int(loss_.size()) ? loss_[top_index] : 0.f; }
  void set_loss(int top_index, float value);
  bool param_propagate_down(int i) const { return i < int(param_propagate_down_.size()) && param_propagate_down_[i]; }
  void set_param_propagate_down(int i, bool value);

 protected:
  virtual void Forward_cpu(const BlobVec& bottom, const BlobVec& top) = 0;
  virtual void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) = 0;
  // The GPU mode's versions (in the layer's .cu file). By default the host code runs, its
  // blobs copied over by SyncedMemory, as in Caffe.
  virtual void Forward_gpu(const BlobVec& bottom, const BlobVec& top) { Forward_cpu(bottom, top); }
  virtual void Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                            const BlobVec& bottom) {
    Backward_cpu(top, propagate_down, bottom);
  }

  Params layer_param_;
  Phase phase_;
  std::string name_;
  std::vector<std::shared_ptr<Blob>> blobs_;
  std::vector<bool> param_propagate_down_;
  std::vector<float> loss_;

 private:
  void CheckBlobCounts(const BlobVec& bottom, const BlobVec& top) const;
  void SetLossWeights(const BlobVec& top);
};

// Shared by the layers that read Caffe's kernel/stride/pad fields.
int64_t ReadSpatialField(const Params& p, const std::string& field, const std::string& field_h_or_w,
                         int64_t def);

}  // namespace augdrop
