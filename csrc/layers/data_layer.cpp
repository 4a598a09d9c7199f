#include "layers/data_layer.hpp"

#include <sstream>

#include "core/rng.hpp"

namespace augdrop {

void DataLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& dp = layer_param_.get_message("data_param");
  AD_CHECK(dp.has("source"), "data_param.source is required");
  batch_size_ = dp.get_int("batch_size", 0);
  AD_CHECK(batch_size_ > 0, "data_param.batch_size must be positive");
  dataset_ = FindDataset(dp.get_string("source", ""));
  transformer_ = std::make_unique<DataTransformer>(layer_param_.get_message("transform_param"), phase_);
  // Caffe 1.0 seeds the transformer twice: in BaseDataLayer::LayerSetUp and again in
  // BasePrefetchingDataLayer::LayerSetUp; the second seed is the one it uses.
  transformer_->InitRand();
  transformer_->InitRand();
  caffe_rng_rand();  // the seed Caffe's InternalThread draws for its prefetch thread
  AD_CHECK(dp.get_int("rand_skip", 0) == 0, "data_param.rand_skip is not supported");
  shuffle_ = dp.get_bool("shuffle", false);
  if (shuffle_) {
    shuffle_rng_.seed(caffe_rng_rand());
    order_.resize(dataset_->num);
    for (int64_t i = 0; i < dataset_->num; ++i) order_[i] = i;
    Reshuffle();
  }
  const auto shape = transformer_->OutputShape(dataset_->channels, dataset_->height, dataset_->width);
  top[0]->Reshape({batch_size_, shape[0], shape[1], shape[2]});
  if (top.size() > 1) top[1]->Reshape({batch_size_});
}

void DataLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const Dataset& d = *dataset_;
  const int64_t image_size = d.channels * d.height * d.width;
  const int64_t out_size = top[0]->count(1);
  float* data = top[0]->mutable_cpu_data();
  float* label = top.size() > 1 ? top[1]->mutable_cpu_data() : nullptr;
  for (int64_t i = 0; i < batch_size_; ++i) {
    const int64_t record = shuffle_ ? order_[cursor_] : cursor_;
    transformer_->Transform(d.images.data() + record * image_size, d.channels, d.height,
                            d.width, data + i * out_size);
    if (label) label[i] = d.labels[record];
    cursor_ = (cursor_ + 1) % d.num;
    if (shuffle_ && cursor_ == 0) Reshuffle();
  }
}

void DataLayer::Reshuffle() {
  // Fisher-Yates with the private stream (std::shuffle's draws are library-specific).
  for (int64_t i = int64_t(order_.size()) - 1; i > 0; --i) {
    const int64_t j = int64_t(shuffle_rng_() % uint64_t(i + 1));
    std::swap(order_[i], order_[j]);
  }
}

std::string DataLayer::SaveState() const {
  std::ostringstream os;
  os << cursor_ << "\n";
  if (shuffle_) {
    os << shuffle_rng_ << "\n";
    for (int64_t r : order_) os << r << " ";
    os << "\n";
  }
  os << transformer_->SaveState();
  return os.str();
}

void DataLayer::LoadState(const std::string& state) {
  std::istringstream is(state);
  int64_t cursor = -1;
  is >> cursor;
  AD_CHECK(!is.fail() && cursor >= 0 && cursor < dataset_->num, "bad data layer state");
  cursor_ = cursor;
  std::string rest;
  std::getline(is, rest);  // the end of the cursor's line
  if (shuffle_) {
    std::string line;
    std::getline(is, line);
    std::istringstream rng_state(line);
    rng_state >> shuffle_rng_;
    std::getline(is, line);
    std::istringstream order(line);
    for (auto& r : order_) order >> r;
    AD_CHECK(!rng_state.fail() && !order.fail(), "bad shuffle state in the data layer state");
  }
  std::string transformer_state((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
  transformer_->LoadState(transformer_state);
}

}  // namespace augdrop
