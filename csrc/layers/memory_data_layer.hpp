// MemoryData: batches from arrays the user hands over (Caffe's memory_data_layer.cpp;
// pycaffe's net.set_input_arrays(data, labels)). Reset(data, labels, n) points the layer at
// n images (n, C, H, W) and n labels, n a multiple of batch_size; each forward pass copies
// the next batch_size of them into the tops, wrapping around. The arrays are the caller's
// and must outlive their use (the Python Net keeps references, as pycaffe does). No
// transformation is applied to them (Caffe's Reset path). Tops: data (N, C, H, W), label
// (N, 1, 1, 1) as Caffe reshapes it at each forward pass. Host blobs only.
#pragma once

#include <memory>

#include "data/data_transformer.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class MemoryDataLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "MemoryData"; }
  int ExactNumBottomBlobs() const override { return 0; }
  int ExactNumTopBlobs() const override { return 2; }
  bool HasBackward() const override { return false; }

  // data: (n, C, H, W), labels: (n,); not copied, not owned.
  void Reset(const float* data, const float* labels, int64_t n);
  int64_t batch_size() const { return batch_size_; }
  int64_t channels() const { return channels_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}

 private:
  int64_t batch_size_ = 0, channels_ = 0, height_ = 0, width_ = 0;
  const float* data_ = nullptr;
  const float* labels_ = nullptr;
  int64_t n_ = 0, pos_ = 0;
  std::unique_ptr<DataTransformer> transformer_;  // drawn as Caffe's, unused by Reset
};

}  // namespace augdrop
