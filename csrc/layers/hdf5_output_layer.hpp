// HDF5Output: writes its two bottoms to hdf5_output_param.file_name as the datasets "data"
// and "label" (Caffe's hdf5_output_layer.cpp), each shaped 4-D by Caffe's legacy
// num/channels/height/width. The file is created (truncated) at set-up and written at every
// forward pass; the writing itself is h5py's, through the callback the Python driver
// installs (data/hdf5_registry.hpp). DEVIATION: a second forward pass replaces the datasets
// (Caffe fails creating datasets that exist), so the file holds the last batch.
#pragma once

#include <string>

#include "layers/layer.hpp"

namespace augdrop {

class HDF5OutputLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "HDF5Output"; }
  int ExactNumBottomBlobs() const override { return 2; }
  int ExactNumTopBlobs() const override { return 0; }
  bool HasBackward() const override { return false; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}

 private:
  std::string file_name_;
};

}  // namespace augdrop
