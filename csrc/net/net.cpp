#include "net/net.hpp"

#include <algorithm>
#include <set>

#include "core/mode.hpp"
#include "math/math_functions.hpp"
#include "net/insert_splits.hpp"
#include "net/layer_registry.hpp"

namespace augdrop {
namespace {

Phase ParsePhase(const std::string& s) {
  if (s == "TRAIN") return Phase::TRAIN;
  if (s == "TEST") return Phase::TEST;
  AD_FAIL("unknown phase '" << s << "'");
}

// Legacy net inputs (`input:` with input_shape or input_dim) become an Input layer, as
// Caffe's upgrade_proto.cpp does.
Params UpgradeLegacyInputs(const Params& net_param) {
  const auto inputs = net_param.get_strings("input");
  if (inputs.empty()) return net_param;
  auto input_layer = std::make_shared<Params>();
  input_layer->set("name", std::string("input"));
  input_layer->set("type", std::string("Input"));
  auto input_param = std::make_shared<Params>();
  const auto shapes = net_param.get_messages("input_shape");
  const auto dims = net_param.get_ints("input_dim");
  AD_CHECK(shapes.size() == inputs.size() || dims.size() == 4 * inputs.size(),
           "each net input needs an input_shape or four input_dim values");
  for (size_t i = 0; i < inputs.size(); ++i) {
    input_layer->add("top", inputs[i]);
    if (!shapes.empty()) {
      input_param->add("shape", std::make_shared<Params>(*shapes[i]));
    } else {
      auto shape = std::make_shared<Params>();
      for (int k = 0; k < 4; ++k) shape->add("dim", dims[4 * i + k]);
      input_param->add("shape", shape);
    }
  }
  input_layer->set("input_param", input_param);
  Params out = net_param;
  out.fields.erase("input");
  out.fields.erase("input_shape");
  out.fields.erase("input_dim");
  std::vector<ParamValue> layers{input_layer};
  for (auto& v : out.fields["layer"]) layers.push_back(v);
  out.fields["layer"] = layers;
  return out;
}

}  // namespace

bool StateMeetsRule(Phase phase, int level, const std::vector<std::string>& stages,
                    const Params& rule) {
  if (rule.has("phase") && ParsePhase(rule.get_string("phase", "")) != phase) return false;
  if (rule.has("min_level") && level < rule.get_int("min_level", 0)) return false;
  if (rule.has("max_level") && level > rule.get_int("max_level", 0)) return false;
  for (const auto& s : rule.get_strings("stage"))
    if (std::find(stages.begin(), stages.end(), s) == stages.end()) return false;
  for (const auto& s : rule.get_strings("not_stage"))
    if (std::find(stages.begin(), stages.end(), s) != stages.end()) return false;
  return true;
}

std::vector<int> FilterLayers(const Params& net_param, Phase phase, int level,
                              const std::vector<std::string>& stages) {
  std::vector<int> kept;
  const auto layers = net_param.get_messages("layer");
  for (int i = 0; i < int(layers.size()); ++i) {
    const Params& lp = *layers[i];
    const auto includes = lp.get_messages("include");
    const auto excludes = lp.get_messages("exclude");
    if (!includes.empty() && !excludes.empty())
      AD_LAYER_FAIL(lp.get_string("name", ""), lp.get_string("type", ""),
                    "has both include and exclude rules (give one kind only)");
    bool included = includes.empty();
    for (const Params* r : excludes)
      if (StateMeetsRule(phase, level, stages, *r)) included = false;
    for (const Params* r : includes)
      if (StateMeetsRule(phase, level, stages, *r)) included = true;
    if (included) kept.push_back(i);
  }
  return kept;
}

NetState ResolveNetState(const Params& net_param, Phase phase, int level,
                         const std::vector<std::string>& stages) {
  const Params& state = net_param.get_message("state");
  NetState out{phase, level, stages};
  if (out.level == 0) out.level = int(state.get_int("level", 0));
  if (out.stages.empty()) out.stages = state.get_strings("stage");
  return out;
}

Net::Net(const Params& net_param, Phase phase, int level, const std::vector<std::string>& stages)
    : phase_(phase) {
  const NetState state = ResolveNetState(net_param, phase, level, stages);
  level_ = state.level;
  stages_ = state.stages;
  Init(net_param);
}

void Net::Init(const Params& in_param) {
  name_ = in_param.get_string("name", "");
  // Keep the layers whose include/exclude rules admit this phase, level and stages (Caffe's
  // Net::FilterNet), before any layer is made. Legacy net inputs become an Input layer
  // afterwards: it has no rules, so the order does not matter.
  Params filtered = in_param;
  {
    std::vector<ParamValue> kept;
    for (int i : FilterLayers(in_param, phase_, level_, stages_))
      kept.push_back(in_param.fields.at("layer")[i]);
    filtered.fields["layer"] = kept;
  }
  filtered = UpgradeLegacyInputs(filtered);
  const Params param = InsertSplits(filtered);
  const std::vector<const Params*> layer_params = param.get_messages("layer");

  std::set<std::string> available;
  std::set<std::string> layer_name_set;
  std::map<std::string, std::pair<int, int>> param_owner;  // ParamSpec name -> (layer, param)
  for (int li = 0; li < int(layer_params.size()); ++li) {
    const Params& lp = *layer_params[li];
    const std::string lname = lp.get_string("name", "");
    layer_names_.push_back(lname);
    try {
      AD_CHECK(layer_name_set.insert(lname).second, "duplicate layer name");
      // As Caffe's Net::Init: a layer inherits the net's phase unless its own `phase` is
      // set (MC dropout: a TEST net whose dropout layers say phase: TRAIN).
      layers_.push_back(
          CreateLayer(lp, lp.has("phase") ? ParsePhase(lp.get_string("phase", "")) : phase_));
    } catch (const std::exception& e) {
      RethrowForLayer(e, lname, lp.get_string("type", ""));
    }
    Layer& layer = *layers_.back();
    bottom_vecs_.emplace_back();
    top_vecs_.emplace_back();
    bottom_id_vecs_.emplace_back();
    top_id_vecs_.emplace_back();
    bottom_need_backward_.emplace_back();
    bool need_backward = false;
    try {
      const auto bottoms = lp.get_strings("bottom");
      const auto propagate = lp.get_ints("propagate_down");
      AD_CHECK(propagate.empty() || propagate.size() == bottoms.size(),
               "propagate_down must be given once per bottom");
      for (size_t b = 0; b < bottoms.size(); ++b) {
        AD_CHECK(available.count(bottoms[b]),
                 "unknown bottom blob '" << bottoms[b] << "' (no earlier layer produces it)");
        const int id = blob_index_.at(bottoms[b]);
        available.erase(bottoms[b]);
        bottom_vecs_[li].push_back(blobs_[id].get());
        bottom_id_vecs_[li].push_back(id);
        const bool nb = propagate.empty() ? bool(blob_need_backward_[id]) : propagate[b] != 0;
        bottom_need_backward_[li].push_back(nb);
        need_backward = need_backward || blob_need_backward_[id];
      }
      const auto tops = lp.get_strings("top");
      for (size_t t = 0; t < tops.size(); ++t) {
        int id;
        if (t < bottoms.size() && bottoms[t] == tops[t]) {
          id = blob_index_.at(tops[t]);  // in place
        } else {
          AD_CHECK(!blob_index_.count(tops[t]),
                   "top blob '" << tops[t] << "' is produced by more than one layer");
          id = int(blobs_.size());
          blobs_.push_back(std::make_shared<Blob>());
          blob_names_.push_back(tops[t]);
          blob_index_[tops[t]] = id;
          blob_need_backward_.push_back(false);
          blob_loss_weights_.push_back(0.f);
        }
        available.insert(tops[t]);
        top_vecs_[li].push_back(blobs_[id].get());
        top_id_vecs_[li].push_back(id);
        if (lp.get_string("type", "") == "Input") input_blob_indices_.push_back(id);
      }
      layer.SetUp(bottom_vecs_[li], top_vecs_[li]);
    } catch (const std::exception& e) {
      RethrowForLayer(e, layer_names_[li], layers_[li]->type());
    }
    for (size_t t = 0; t < top_id_vecs_[li].size(); ++t)
      blob_loss_weights_[top_id_vecs_[li][t]] = layer.loss(int(t));

    // Parameters: lr_mult/decay_mult from the ParamSpecs; shared by ParamSpec name.
    const auto specs = lp.get_messages("param");
    const int num_params = int(layer.blobs().size());
    if (int(specs.size()) > num_params)
      AD_LAYER_FAIL(lname, layer.type(), "too many param specs (" << specs.size()
                                             << ") for a layer with " << num_params << " params");
    // BatchNorm's statistics are not learned (Caffe's batch_norm_layer.cpp).
    const bool stats_only = std::string(layer.type()) == "BatchNorm";
    for (int p = 0; p < num_params; ++p) {
      const Params* spec = p < int(specs.size()) ? specs[p] : nullptr;
      const float lr = spec ? float(spec->get_float("lr_mult", 1.0)) : (stats_only ? 0.f : 1.f);
      const float decay =
          spec ? float(spec->get_float("decay_mult", 1.0)) : (stats_only ? 0.f : 1.f);
      if (stats_only && lr != 0)
        AD_LAYER_FAIL(lname, layer.type(), "BatchNorm statistics cannot be learned (set lr_mult: 0)");
      const bool param_backward = lr != 0;
      need_backward = need_backward || param_backward;
      layer.set_param_propagate_down(p, param_backward);
      params_.push_back(layer.blobs()[p]);
      param_layer_indices_.push_back({li, p});
      const std::string pname = spec ? spec->get_string("name", "") : "";
      auto owner = pname.empty() ? param_owner.end() : param_owner.find(pname);
      if (owner == param_owner.end()) {
        if (!pname.empty()) param_owner[pname] = {li, p};
        learnable_params_.push_back(layer.blobs()[p].get());
        params_lr_.push_back(lr);
        params_weight_decay_.push_back(decay);
      } else {
        Blob& owner_blob = *layers_[owner->second.first]->blobs()[owner->second.second];
        Blob& mine = *layer.blobs()[p];
        if (owner_blob.count() != mine.count())
          AD_LAYER_FAIL(lname, layer.type(),
                        "shared param '" << pname << "' has a different size than its owner");
        mine.ShareData(owner_blob);
        mine.ShareDiff(owner_blob);
      }
    }
    layer_need_backward_.push_back(need_backward && layer.HasBackward());
    if (need_backward)
      for (int id : top_id_vecs_[li]) blob_need_backward_[id] = true;
  }

  // Going backwards: a layer that contributes to no loss, or whose tops need no gradient,
  // skips its backward pass (net.cpp).
  std::set<std::string> under_loss, skip_backprop;
  for (int li = int(layers_.size()) - 1; li >= 0; --li) {
    bool contributes = false, skip = true;
    for (size_t t = 0; t < top_id_vecs_[li].size(); ++t) {
      const std::string& bname = blob_names_[top_id_vecs_[li][t]];
      if (layers_[li]->loss(int(t)) != 0 || under_loss.count(bname)) contributes = true;
      if (!skip_backprop.count(bname)) skip = false;
      if (contributes && !skip) break;
    }
    if (layer_need_backward_[li] && skip) {
      layer_need_backward_[li] = false;
      std::fill(bottom_need_backward_[li].begin(), bottom_need_backward_[li].end(), false);
    }
    if (!contributes) layer_need_backward_[li] = false;
    for (size_t b = 0; b < bottom_id_vecs_[li].size(); ++b) {
      const std::string& bname = blob_names_[bottom_id_vecs_[li][b]];
      if (contributes) under_loss.insert(bname);
      else bottom_need_backward_[li][b] = false;
      if (!bottom_need_backward_[li][b]) skip_backprop.insert(bname);
    }
  }
  if (param.get_bool("force_backward", false)) {
    for (int li = 0; li < int(layers_.size()); ++li) {
      layer_need_backward_[li] = layers_[li]->HasBackward();
      for (size_t b = 0; b < bottom_id_vecs_[li].size(); ++b) {
        bottom_need_backward_[li][b] =
            bottom_need_backward_[li][b] || layers_[li]->AllowForceBackward(int(b));
        const int id = bottom_id_vecs_[li][b];
        blob_need_backward_[id] = blob_need_backward_[id] || bottom_need_backward_[li][b];
      }
      for (size_t p = 0; p < layers_[li]->blobs().size(); ++p)
        if (std::string(layers_[li]->type()) != "BatchNorm")
          layers_[li]->set_param_propagate_down(int(p), true);
    }
  }
  // The backward features x*m_b replace the dropout's output before the backward pass; a
  // later layer working in place on that blob would have its output overwritten.
  for (int li = 0; li < int(layers_.size()); ++li) {
    if (!layers_[li]->RewritesTopBeforeBackward()) continue;
    const int blob = top_id_vecs_[li][0];
    for (int later = li + 1; later < int(layers_.size()); ++later) {
      for (int id : top_id_vecs_[later]) {
        if (id != blob) continue;
        AD_LAYER_FAIL(layer_names_[li], layers_[li]->type(),
                      "its output '" << blob_names_[blob] << "' is modified in place by layer '"
                                     << layer_names_[later]
                                     << "', which the rewrite to the backward features x*m_b "
                                        "would overwrite; put the dropout after that layer, "
                                        "give it its own top, or set "
                                        "mask_backward_features: false");
      }
    }
  }
  for (const auto& b : available) output_blob_indices_.push_back(blob_index_.at(b));
  // Caffe lists outputs in blob order.
  std::sort(output_blob_indices_.begin(), output_blob_indices_.end());
}

int Net::blob_index(const std::string& name) const {
  auto it = blob_index_.find(name);
  return it == blob_index_.end() ? -1 : it->second;
}

int Net::layer_index(const std::string& name) const {
  auto it = std::find(layer_names_.begin(), layer_names_.end(), name);
  return it == layer_names_.end() ? -1 : int(it - layer_names_.begin());
}

float Net::ForwardFromTo(int start, int end) {
  AD_CHECK(start >= 0 && end < int(layers_.size()) && start <= end + 1, "bad layer range");
  backward_prepared_ = false;  // new top data: the next backward rewrites it again
  float loss = 0;
  for (int i = start; i <= end; ++i) {
    try {
      loss += layers_[i]->Forward(bottom_vecs_[i], top_vecs_[i]);
    } catch (const std::exception& e) {
      RethrowForLayer(e, layer_names_[i], layers_[i]->type());
    }
  }
  return loss;
}

void Net::Reshape() {
  for (size_t i = 0; i < layers_.size(); ++i) {
    try {
      layers_[i]->Reshape(bottom_vecs_[i], top_vecs_[i]);
    } catch (const std::exception& e) {
      RethrowForLayer(e, layer_names_[i], layers_[i]->type());
    }
  }
}

float Net::Forward() { return layers_.empty() ? 0.f : ForwardFromTo(0, int(layers_.size()) - 1); }

void Net::BackwardFromTo(int start, int end) {
  if (!backward_prepared_) {
    // The rewrite is idempotent (top = x * m_b from a kept copy of x), so running it once per
    // forward gives the same result as running it before every piece of the backward pass.
    for (int i = 0; i < int(layers_.size()); ++i) {
      try {
        layers_[i]->PrepareBackward(bottom_vecs_[i], top_vecs_[i]);
      } catch (const std::exception& e) {
        RethrowForLayer(e, layer_names_[i], layers_[i]->type());
      }
    }
    backward_prepared_ = true;
    ++backward_preparations_;
  }
  for (int i = start; i >= end; --i) {
    if (!layer_need_backward_[i]) continue;
    try {
      layers_[i]->Backward(top_vecs_[i], bottom_need_backward_[i], bottom_vecs_[i]);
    } catch (const std::exception& e) {
      RethrowForLayer(e, layer_names_[i], layers_[i]->type());
    }
  }
}

void Net::Backward() {
  if (!layers_.empty()) BackwardFromTo(int(layers_.size()) - 1, 0);
}

float Net::ForwardBackward() {
  const float loss = Forward();
  Backward();
  return loss;
}

void Net::ClearParamDiffs() {
  for (Blob* b : learnable_params_) {
#ifdef AUGDROP_WITH_CUDA
    if (GetMode() == Mode::GPU) {
      gpu_set(b->count(), 0.f, b->mutable_gpu_diff());
      continue;
    }
#endif
    cpu_set(b->count(), 0.f, b->mutable_cpu_diff());
  }
}

void Net::Update() {
  for (Blob* b : learnable_params_) b->Update();
}

void Net::ShareTrainedLayersWith(const Net& other) {
  for (size_t i = 0; i < other.layers_.size(); ++i) {
    const int mine = layer_index(other.layer_names_[i]);
    if (mine < 0) continue;
    auto& target = layers_[mine]->blobs();
    const auto& source = other.layers_[i]->blobs();
    if (target.size() != source.size())
      AD_LAYER_FAIL(layer_names_[mine], layers_[mine]->type(),
                    "cannot share " << source.size() << " params with a layer that has "
                                    << target.size());
    for (size_t p = 0; p < source.size(); ++p) {
      if (target[p]->shape() != source[p]->shape())
        AD_LAYER_FAIL(layer_names_[mine], layers_[mine]->type(),
                      "param " << p << " has shape " << target[p]->shape_string()
                               << " here and " << source[p]->shape_string()
                               << " in the shared net");
      target[p]->ShareData(*source[p]);
    }
  }
}

}  // namespace augdrop
