#include "layers/dummy_data_layer.hpp"

#include "core/filler.hpp"

namespace augdrop {
namespace {

// A repeated field given once (for every top) or once per top.
bool OnceOrPerTop(size_t given, size_t num_top) { return given == 1 || given == num_top; }

}  // namespace

void DummyDataLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("dummy_data_param");
  const size_t num_top = top.size();
  const auto fillers = p.get_messages("data_filler");
  AD_CHECK(fillers.size() <= 1 || fillers.size() == num_top,
           "the number of data fillers must be 0, 1 or the number of tops (" << num_top
               << "); " << fillers.size() << " were given");
  const auto shapes = p.get_messages("shape");
  const char* legacy_fields[] = {"num", "channels", "height", "width"};
  bool legacy = false;
  for (const char* f : legacy_fields) legacy = legacy || p.count(f) > 0;
  std::vector<std::vector<int64_t>> top_shapes(num_top);
  if (legacy) {
    AD_CHECK(shapes.empty(), "give shape or the legacy num/channels/height/width, not both");
    std::vector<std::vector<int64_t>> dims;
    for (const char* f : legacy_fields) {
      dims.push_back(p.get_ints(f));
      AD_CHECK(OnceOrPerTop(dims.back().size(), num_top),
               "give '" << f << "' once, or once per top (" << num_top << "); it is given "
                        << dims.back().size() << " times");
    }
    for (size_t i = 0; i < num_top; ++i)
      for (const auto& d : dims) top_shapes[i].push_back(d.size() == 1 ? d[0] : d[i]);
  } else {
    AD_CHECK(OnceOrPerTop(shapes.size(), num_top),
             "give 'shape' once, or once per top (" << num_top << "); it is given "
                                                   << shapes.size() << " times");
    for (size_t i = 0; i < num_top; ++i)
      top_shapes[i] = (shapes.size() == 1 ? shapes[0] : shapes[i])->get_ints("dim");
  }
  fillers_.clear();
  if (fillers.empty()) {
    Params zero;
    zero.set("type", std::string("constant"));
    zero.set("value", 0.0);
    fillers_.push_back(zero);
  } else {
    for (const Params* f : fillers) fillers_.push_back(*f);
  }
  refill_.clear();
  for (const Params& f : fillers_) refill_.push_back(f.get_string("type", "constant") != "constant");
  for (size_t i = 0; i < num_top; ++i) top[i]->Reshape(top_shapes[i]);
  // The constant tops now, once (Caffe runs Forward with refill_ inverted at set-up).
  for (size_t i = 0; i < num_top; ++i) {
    const size_t f = fillers_.size() > 1 ? i : 0;
    if (!refill_[f] && top[i]->count() > 0) FillBlob(fillers_[f], top[i]);
  }
}

void DummyDataLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  for (size_t i = 0; i < top.size(); ++i) {
    const size_t f = fillers_.size() > 1 ? i : 0;
    if (refill_[f] && top[i]->count() > 0) FillBlob(fillers_[f], top[i]);
  }
}

}  // namespace augdrop
