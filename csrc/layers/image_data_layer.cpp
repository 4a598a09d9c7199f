#include "layers/image_data_layer.hpp"

#include <sstream>
#include <utility>

namespace augdrop {
namespace {

// boost::uniform_int<>(0, range)(mt19937) (Boost 1.74's generate_uniform_int for a 32-bit
// engine): the engine's word divided into range + 1 equal buckets, redrawn past the last.
uint32_t BoostUniformInt(Rng& rng, uint32_t range) {
  if (range == 0xFFFFFFFFu) return rng();
  const uint32_t brange = 0xFFFFFFFFu;
  uint32_t bucket_size = brange / (range + 1);
  if (brange % (range + 1) == range) ++bucket_size;
  while (true) {
    const uint32_t result = rng() / bucket_size;
    if (result <= range) return result;
  }
}

}  // namespace

void ImageDataLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("image_data_param");
  AD_CHECK(p.has("source"), "image_data_param.source is required");
  const int64_t new_height = p.get_int("new_height", 0), new_width = p.get_int("new_width", 0);
  AD_CHECK((new_height == 0 && new_width == 0) || (new_height > 0 && new_width > 0),
           "new_height and new_width must be given together");
  batch_size_ = p.get_int("batch_size", 1);
  AD_CHECK(batch_size_ > 0, "image_data_param.batch_size must be positive");
  images_ = OpenImageSource(p.get_string("source", ""));
  transformer_ = std::make_unique<DataTransformer>(layer_param_.get_message("transform_param"), phase_);
  transformer_->InitRand();  // BaseDataLayer::LayerSetUp
  lines_.resize(images_->num());
  for (int64_t i = 0; i < images_->num(); ++i) lines_[i] = i;
  shuffle_ = p.get_bool("shuffle", false);
  if (shuffle_) {
    shuffle_rng_ = std::make_unique<Rng>(caffe_rng_rand());
    ShuffleImages();
  }
  lines_id_ = 0;
  const int64_t rand_skip = p.get_int("rand_skip", 0);
  if (rand_skip > 0) {
    const int64_t skip = caffe_rng_rand() % uint32_t(rand_skip);
    AD_CHECK(skip < int64_t(lines_.size()), "not enough images (" << lines_.size()
                                                << ") to skip " << skip);
    lines_id_ = skip;
  }
  transformer_->InitRand();  // BasePrefetchingDataLayer::LayerSetUp
  caffe_rng_rand();          // the seed of Caffe's prefetch thread
  // The top's shape from the image the first batch starts with, as Caffe infers it.
  batch_shape_ = images_->ImageShape(lines_[lines_id_]);
  const auto shape = transformer_->OutputShape(batch_shape_[0], batch_shape_[1], batch_shape_[2]);
  batch_indices_.resize(batch_size_);
  top[0]->Reshape({batch_size_, shape[0], shape[1], shape[2]});
  top[1]->Reshape({batch_size_});
}

void ImageDataLayer::ShuffleImages() {
  // caffe::shuffle (include/caffe/util/rng.hpp): Fisher-Yates from the back.
  for (int64_t i = int64_t(lines_.size()) - 1; i > 0; --i)
    std::swap(lines_[i], lines_[BoostUniformInt(*shuffle_rng_, uint32_t(i))]);
}

void ImageDataLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  // Reshape according to the first image of the batch (Caffe's load_batch).
  batch_shape_ = images_->ImageShape(lines_[lines_id_]);
  const auto [channels, height, width] = batch_shape_;
  const int64_t image_size = channels * height * width;
  const auto shape = transformer_->OutputShape(channels, height, width);
  top[0]->Reshape({batch_size_, shape[0], shape[1], shape[2]});
  batch_images_.resize(batch_size_ * image_size);
  const int64_t out_size = top[0]->count(1);
  float* data = top[0]->mutable_cpu_data();
  float* label = top[1]->mutable_cpu_data();
  for (int64_t i = 0; i < batch_size_; ++i) {  // the batch's images, as Caffe walks the list
    batch_indices_[i] = lines_[lines_id_];
    label[i] = images_->labels()[batch_indices_[i]];
    if (++lines_id_ >= int64_t(lines_.size())) {
      lines_id_ = 0;
      if (shuffle_) ShuffleImages();
    }
  }
  images_->Read(batch_indices_, batch_shape_, batch_images_.data());
  for (int64_t i = 0; i < batch_size_; ++i)
    transformer_->Transform(batch_images_.data() + i * image_size, channels, height, width,
                            data + i * out_size);
}

}  // namespace augdrop

namespace augdrop {

std::string ImageDataLayer::SaveState() const {
  std::ostringstream os;
  os << lines_id_ << "\n" << (shuffle_rng_ ? shuffle_rng_->state() : std::string()) << "\n";
  for (int64_t r : lines_) os << r << " ";
  os << "\n" << transformer_->SaveState();
  return os.str();
}

void ImageDataLayer::LoadState(const std::string& state) {
  std::istringstream is(state);
  std::string line;
  std::getline(is, line);
  lines_id_ = std::stoll(line);
  AD_CHECK(lines_id_ >= 0 && lines_id_ < int64_t(lines_.size()), "bad ImageData state");
  std::getline(is, line);
  if (shuffle_rng_) shuffle_rng_->set_state(line);
  std::getline(is, line);
  std::istringstream order(line);
  for (auto& r : lines_) order >> r;
  AD_CHECK(!order.fail(), "bad list order in the ImageData state");
  std::string rest((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
  transformer_->LoadState(rest);
}

}  // namespace augdrop
