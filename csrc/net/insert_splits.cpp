#include "net/insert_splits.hpp"

#include <map>
#include <utility>

#include "core/errors.hpp"

namespace augdrop {
namespace {

using TopIndex = std::pair<int, int>;  // (layer, top)

std::string SplitLayerName(const std::string& layer, const std::string& blob, int top) {
  return blob + "_" + layer + "_" + std::to_string(top) + "_split";
}

std::string SplitBlobName(const std::string& layer, const std::string& blob, int top, int k) {
  return SplitLayerName(layer, blob, top) + "_" + std::to_string(k);
}

}  // namespace

Params InsertSplits(const Params& net_param) {
  const std::vector<const Params*> layers = net_param.get_messages("layer");
  std::map<std::string, TopIndex> last_top;
  std::map<TopIndex, TopIndex> bottom_source;
  std::map<TopIndex, int> consumers;
  std::map<TopIndex, float> loss_weight;
  for (int i = 0; i < int(layers.size()); ++i) {
    const Params& lp = *layers[i];
    const auto bottoms = lp.get_strings("bottom");
    const auto tops = lp.get_strings("top");
    for (int j = 0; j < int(bottoms.size()); ++j) {
      auto it = last_top.find(bottoms[j]);
      if (it == last_top.end())
        AD_LAYER_FAIL(lp.get_string("name", ""), lp.get_string("type", ""),
                      "unknown bottom blob '" << bottoms[j]
                                              << "' (no earlier layer produces it; bottom index "
                                              << j << ")");
      bottom_source[{i, j}] = it->second;
      ++consumers[it->second];
    }
    for (int j = 0; j < int(tops.size()); ++j) last_top[tops[j]] = {i, j};
    // A top used as a loss counts as one more consumer.
    const auto weights = lp.get_floats("loss_weight");
    for (int j = 0; j < int(std::min(weights.size(), tops.size())); ++j) {
      const TopIndex t = last_top[tops[j]];
      loss_weight[t] = float(weights[j]);
      if (loss_weight[t] != 0) ++consumers[t];
    }
  }

  Params out = net_param;
  out.fields.erase("layer");
  std::map<TopIndex, int> next_split;
  for (int i = 0; i < int(layers.size()); ++i) {
    auto lp = std::make_shared<Params>(*layers[i]);
    const std::string name = lp->get_string("name", "");
    auto& bottoms = lp->fields["bottom"];
    for (int j = 0; j < int(bottoms.size()); ++j) {
      const TopIndex source = bottom_source[{i, j}];
      if (consumers[source] > 1) {
        const std::string source_layer = layers[source.first]->get_string("name", "");
        const std::string blob = std::get<std::string>(bottoms[j]);
        bottoms[j] = SplitBlobName(source_layer, blob, source.second, next_split[source]++);
      }
    }
    if (bottoms.empty()) lp->fields.erase("bottom");
    out.add("layer", lp);
    const auto tops = lp->get_strings("top");
    for (int j = 0; j < int(tops.size()); ++j) {
      const TopIndex t{i, j};
      const int count = consumers[t];
      if (count <= 1) continue;
      auto split = std::make_shared<Params>();
      split->set("name", SplitLayerName(name, tops[j], j));
      split->set("type", std::string("Split"));
      split->set("bottom", tops[j]);
      const float w = loss_weight.count(t) ? loss_weight[t] : 0.f;
      for (int k = 0; k < count; ++k) {
        split->add("top", SplitBlobName(name, tops[j], j, k));
        if (w != 0) split->add("loss_weight", double(k == 0 ? w : 0.f));
      }
      if (w != 0) {
        lp->fields.erase("loss_weight");
        next_split[t]++;
      }
      out.add("layer", split);
    }
  }
  return out;
}

}  // namespace augdrop
