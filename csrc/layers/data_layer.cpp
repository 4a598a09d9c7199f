#include "layers/data_layer.hpp"

#include <sstream>

#include "core/rng.hpp"

namespace augdrop {

void DataLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& dp = layer_param_.get_message("data_param");
  AD_CHECK(dp.has("source"), "data_param.source is required");
  batch_size_ = dp.get_int("batch_size", 0);
  AD_CHECK(batch_size_ > 0, "data_param.batch_size must be positive");
  const std::string source = dp.get_string("source", "");
  if (HasStream(source)) {
    stream_ = OpenStream(source, batch_size_);
    num_records_ = stream_->num();
    record_shape_ = stream_->shape();
    const int64_t image_size = record_shape_[0] * record_shape_[1] * record_shape_[2];
    stream_images_.resize(batch_size_ * image_size);
    stream_labels_.resize(batch_size_);
  } else {
    dataset_ = FindDataset(source);
    num_records_ = dataset_->num;
    record_shape_ = {dataset_->channels, dataset_->height, dataset_->width};
  }
  transformer_ = std::make_unique<DataTransformer>(layer_param_.get_message("transform_param"), phase_);
  // Caffe 1.0 seeds the transformer twice: in BaseDataLayer::LayerSetUp and again in
  // BasePrefetchingDataLayer::LayerSetUp; the second seed is the one it uses.
  transformer_->InitRand();
  transformer_->InitRand();
  caffe_rng_rand();  // the seed Caffe's InternalThread draws for its prefetch thread
  AD_CHECK(dp.get_int("rand_skip", 0) == 0, "data_param.rand_skip is not supported");
  shuffle_ = dp.get_bool("shuffle", false);
  AD_CHECK(!(shuffle_ && stream_), "data_param.shuffle needs a named, in-memory data set; '"
                                       << source << "' is read record by record");
  if (shuffle_) {
    shuffle_rng_.seed(caffe_rng_rand());
    order_.resize(num_records_);
    for (int64_t i = 0; i < num_records_; ++i) order_[i] = i;
    Reshuffle();
  }
  const auto shape = transformer_->OutputShape(record_shape_[0], record_shape_[1], record_shape_[2]);
  top[0]->Reshape({batch_size_, shape[0], shape[1], shape[2]});
  if (top.size() > 1) top[1]->Reshape({batch_size_});
}

void DataLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  const auto [channels, height, width] = record_shape_;
  const int64_t image_size = channels * height * width;
  const int64_t out_size = top[0]->count(1);
  float* data = top[0]->mutable_cpu_data();
  float* label = top.size() > 1 ? top[1]->mutable_cpu_data() : nullptr;
  if (stream_) stream_->Read(batch_size_, stream_images_.data(), stream_labels_.data());
  for (int64_t i = 0; i < batch_size_; ++i) {
    const int64_t record = shuffle_ ? order_[cursor_] : cursor_;
    const uint8_t* image = stream_ ? stream_images_.data() + i * image_size
                                   : dataset_->images.data() + record * image_size;
    transformer_->Transform(image, channels, height, width, data + i * out_size);
    if (label) label[i] = stream_ ? stream_labels_[i] : dataset_->labels[record];
    cursor_ = (cursor_ + 1) % num_records_;
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
  AD_CHECK(!is.fail() && cursor >= 0 && cursor < num_records_, "bad data layer state");
  cursor_ = cursor;
  if (stream_) stream_->Seek(cursor_);
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
