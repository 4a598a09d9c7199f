#include "layers/hdf5_output_layer.hpp"

#include "data/hdf5_registry.hpp"

namespace augdrop {
namespace {

// Caffe's Blob::LegacyShape: (num, channels, height, width), 1 past the blob's axes.
std::vector<int64_t> LegacyShape(const Blob& b) {
  AD_CHECK(b.num_axes() <= 4, "HDF5Output writes blobs of at most 4 axes, got "
                                  << b.shape_string());
  std::vector<int64_t> shape;
  for (int i = 0; i < 4; ++i) shape.push_back(i < b.num_axes() ? b.shape()[i] : 1);
  return shape;
}

}  // namespace

void HDF5OutputLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  file_name_ = layer_param_.get_message("hdf5_output_param").get_string("file_name", "");
  AD_CHECK(!file_name_.empty(), "hdf5_output_param.file_name is required");
  WriteHdf5(file_name_, {});
}

void HDF5OutputLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(bottom[0]->shape().at(0) == bottom[1]->shape().at(0),
           "data and label must have the same batch size (" << bottom[0]->shape_string()
                                                           << " and " << bottom[1]->shape_string() << ")");
  WriteHdf5(file_name_, {{"data", LegacyShape(*bottom[0]), bottom[0]->cpu_data()},
                         {"label", LegacyShape(*bottom[1]), bottom[1]->cpu_data()}});
}

}  // namespace augdrop
