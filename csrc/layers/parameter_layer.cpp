#include "layers/parameter_layer.hpp"

namespace augdrop {

void ParameterLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const std::vector<int64_t> shape =
      layer_param_.get_message("parameter_param").get_message("shape").get_ints("dim");
  blobs_.clear();
  blobs_.push_back(std::make_shared<Blob>(shape));
  param_propagate_down_.assign(1, true);
  top[0]->Reshape(shape);
}

// At every forward pass, as Caffe (the Net may have given the param other memory since
// set-up: a ParamSpec shared by name).
void ParameterLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  top[0]->ShareData(*blobs_[0]);
  top[0]->ShareDiff(*blobs_[0]);
}

}  // namespace augdrop
