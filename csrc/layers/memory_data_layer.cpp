#include "layers/memory_data_layer.hpp"

#include <algorithm>

namespace augdrop {

void MemoryDataLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("memory_data_param");
  batch_size_ = p.get_int("batch_size", 0);
  channels_ = p.get_int("channels", 0);
  height_ = p.get_int("height", 0);
  width_ = p.get_int("width", 0);
  AD_CHECK(batch_size_ > 0 && channels_ > 0 && height_ > 0 && width_ > 0,
           "batch_size, channels, height and width must be given and positive in "
           "memory_data_param (got "
               << batch_size_ << ", " << channels_ << ", " << height_ << ", " << width_ << ")");
  // BaseDataLayer's transformer, seeded as Caffe seeds it (it only transforms Datums, which
  // this engine does not add to a MemoryData layer).
  transformer_ = std::make_unique<DataTransformer>(layer_param_.get_message("transform_param"), phase_);
  transformer_->InitRand();
  top[0]->Reshape({batch_size_, channels_, height_, width_});
  top[1]->Reshape({batch_size_});
}

void MemoryDataLayer::Reset(const float* data, const float* labels, int64_t n) {
  AD_CHECK(data != nullptr && labels != nullptr, "Reset needs data and labels");
  AD_CHECK(n > 0 && n % batch_size_ == 0, "the number of images (" << n << ") must be a "
                                          "positive multiple of the batch size ("
                                          << batch_size_ << ")");
  data_ = data;
  labels_ = labels;
  n_ = n;
  pos_ = 0;
}

void MemoryDataLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(data_ != nullptr, "MemoryData needs its arrays before the forward pass "
                             "(net.set_input_arrays(data, labels))");
  const int64_t size = channels_ * height_ * width_;
  top[0]->Reshape({batch_size_, channels_, height_, width_});
  top[1]->Reshape({batch_size_, 1, 1, 1});
  std::copy(data_ + pos_ * size, data_ + (pos_ + batch_size_) * size, top[0]->mutable_cpu_data());
  std::copy(labels_ + pos_, labels_ + pos_ + batch_size_, top[1]->mutable_cpu_data());
  pos_ = (pos_ + batch_size_) % n_;
}

}  // namespace augdrop
