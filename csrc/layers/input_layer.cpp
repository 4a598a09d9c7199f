#include "layers/input_layer.hpp"

namespace augdrop {

void InputLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const auto shapes = layer_param_.get_message("input_param").get_messages("shape");
  AD_CHECK(shapes.size() == 1 || shapes.size() == top.size(),
           "input_param needs one shape, or one per top (" << top.size() << " tops, "
                                                           << shapes.size() << " shapes)");
  for (size_t i = 0; i < top.size(); ++i) {
    const Params* shape = shapes.size() == 1 ? shapes[0] : shapes[i];
    top[i]->Reshape(shape->get_ints("dim"));
  }
}

}  // namespace augdrop
