// Net: a graph of layers over named blobs, built from a NetParameter as Caffe's Net
// (src/caffe/net.cpp): phase/level/stage filtering, Split insertion, in-place layers,
// loss weights, and the analysis of which layers need a backward pass.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/layer.hpp"

namespace augdrop {

class Net {
 public:
  Net(const Params& net_param, Phase phase, int level = 0,
      const std::vector<std::string>& stages = {});

  float Forward();
  float ForwardFromTo(int start, int end);
  // Rewrites backward features (AugmentedDropout), then runs Backward over all layers.
  void Backward();
  // Backward over layers start down to end. The rewrite to the backward features
  // (PrepareBackward, over every layer) runs once after each forward call, in the first
  // BackwardFromTo, as a training iteration does; later calls that walk the same backward
  // pass layer by layer (`augdrop-caffe time`) find it done.
  void BackwardFromTo(int start, int end);
  float ForwardBackward();
  // Every layer's Reshape in order, so that a changed input shape reaches every top without
  // a forward pass (Caffe's Net::Reshape, pycaffe's net.reshape()).
  void Reshape();
  void ClearParamDiffs();
  // data -= diff for every learnable parameter.
  void Update();
  // Make this net's parameters the same memory as other's, layer by layer name.
  void ShareTrainedLayersWith(const Net& other);

  // How many times the layers' PrepareBackward has run over the net (once per backward pass).
  int64_t backward_preparations() const { return backward_preparations_; }

  const std::string& name() const { return name_; }
  Phase phase() const { return phase_; }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  const std::vector<std::string>& layer_names() const { return layer_names_; }
  const std::vector<std::shared_ptr<Blob>>& blobs() const { return blobs_; }
  const std::vector<std::string>& blob_names() const { return blob_names_; }
  const std::vector<int>& input_blob_indices() const { return input_blob_indices_; }
  const std::vector<int>& output_blob_indices() const { return output_blob_indices_; }
  const std::vector<std::vector<int>>& bottom_ids() const { return bottom_id_vecs_; }
  const std::vector<std::vector<int>>& top_ids() const { return top_id_vecs_; }
  bool layer_need_backward(int i) const { return layer_need_backward_[i]; }
  float blob_loss_weight(int i) const { return blob_loss_weights_[i]; }
  int blob_index(const std::string& name) const;   // -1 if absent
  int layer_index(const std::string& name) const;  // -1 if absent

  // Every parameter blob in layer order, and the ones the solver updates (shared parameters
  // appear once, under their owner), with their lr_mult and decay_mult.
  const std::vector<std::shared_ptr<Blob>>& params() const { return params_; }
  const std::vector<Blob*>& learnable_params() const { return learnable_params_; }
  const std::vector<float>& params_lr() const { return params_lr_; }
  const std::vector<float>& params_weight_decay() const { return params_weight_decay_; }

 private:
  void Init(const Params& net_param);

  std::string name_;
  Phase phase_;
  int level_;
  std::vector<std::string> stages_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::string> layer_names_;
  std::vector<std::shared_ptr<Blob>> blobs_;
  std::vector<std::string> blob_names_;
  std::map<std::string, int> blob_index_;
  std::vector<bool> blob_need_backward_;
  std::vector<float> blob_loss_weights_;
  std::vector<BlobVec> bottom_vecs_, top_vecs_;
  std::vector<std::vector<int>> bottom_id_vecs_, top_id_vecs_;
  std::vector<std::vector<bool>> bottom_need_backward_;
  std::vector<bool> layer_need_backward_;
  std::vector<int> input_blob_indices_, output_blob_indices_;
  std::vector<std::shared_ptr<Blob>> params_;
  std::vector<Blob*> learnable_params_;
  std::vector<float> params_lr_, params_weight_decay_;
  std::vector<std::pair<int, int>> param_layer_indices_;  // (layer, param index) per param

  bool backward_prepared_ = false;  // PrepareBackward has run since the last forward call
  int64_t backward_preparations_ = 0;
};

// Caffe's NetStateRule test (net.cpp StateMeetsRule).
bool StateMeetsRule(Phase phase, int level, const std::vector<std::string>& stages,
                    const Params& rule);

// The state a Net is built in: the given level and stages, else the net's own `state`.
struct NetState {
  Phase phase;
  int level;
  std::vector<std::string> stages;
};
NetState ResolveNetState(const Params& net_param, Phase phase, int level,
                         const std::vector<std::string>& stages);

// Caffe's Net::FilterNet: the indices (into net_param's `layer` list) of the layers whose
// include/exclude rules admit the state. The one reader of those rules: the Net keeps these
// layers, and the Python driver loads the data sources of these layers only.
std::vector<int> FilterLayers(const Params& net_param, Phase phase, int level,
                              const std::vector<std::string>& stages);

}  // namespace augdrop
