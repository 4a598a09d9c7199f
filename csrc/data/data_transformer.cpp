#include "data/data_transformer.hpp"

#include <sstream>

#include "core/rng.hpp"
#include "data/dataset_registry.hpp"

namespace augdrop {

DataTransformer::DataTransformer(const Params& p, Phase phase) : phase_(phase) {
  scale_ = float(p.get_float("scale", 1.0));
  mirror_ = p.get_bool("mirror", false);
  crop_size_ = p.get_int("crop_size", 0);
  AD_CHECK(crop_size_ >= 0, "crop_size must not be negative");
  if (p.has("mean_file")) {
    AD_CHECK(!p.has("mean_value"), "give mean_file or mean_value, not both");
    mean_ = FindMean(p.get_string("mean_file", ""), &mean_shape_);
  }
  for (double v : p.get_floats("mean_value")) mean_values_.push_back(float(v));
}

void DataTransformer::InitRand() {
  const bool needs_rand = mirror_ || (phase_ == Phase::TRAIN && crop_size_ > 0);
  if (needs_rand) rng_ = std::make_unique<std::mt19937>(caffe_rng_rand());
}

std::string DataTransformer::SaveState() const {
  if (!rng_) return "";
  std::ostringstream os;
  os << *rng_;
  return os.str();
}

void DataTransformer::LoadState(const std::string& state) {
  if (state.empty()) return;
  AD_CHECK(rng_, "saved transformer state for a transformer without random numbers");
  std::istringstream is(state);
  is >> *rng_;
  AD_CHECK(!is.fail(), "bad transformer random state");
}

uint32_t DataTransformer::Rand(uint32_t n) { return (*rng_)() % n; }

std::vector<int64_t> DataTransformer::OutputShape(int64_t channels, int64_t height,
                                                  int64_t width) const {
  if (crop_size_ > 0) {
    AD_CHECK(crop_size_ <= height && crop_size_ <= width,
             "crop_size " << crop_size_ << " is larger than the images (" << height << "x"
                          << width << ")");
    return {channels, crop_size_, crop_size_};
  }
  return {channels, height, width};
}

void DataTransformer::Transform(const uint8_t* image, int64_t channels, int64_t height,
                                int64_t width, float* out) {
  if (mean_) {
    AD_CHECK(mean_shape_.size() == 3 && mean_shape_[0] == channels &&
                 mean_shape_[1] == height && mean_shape_[2] == width,
             "the mean file's shape does not match the images (" << channels << ", " << height
                                                                 << ", " << width << ")");
  }
  AD_CHECK(mean_values_.empty() || mean_values_.size() == 1 ||
               int64_t(mean_values_.size()) == channels,
           "mean_value must be given once or once per channel (" << channels << ")");
  const bool do_mirror = mirror_ && Rand(2);
  int64_t h_off = 0, w_off = 0, out_h = height, out_w = width;
  if (crop_size_ > 0) {
    out_h = out_w = crop_size_;
    if (phase_ == Phase::TRAIN) {
      h_off = Rand(uint32_t(height - crop_size_ + 1));
      w_off = Rand(uint32_t(width - crop_size_ + 1));
    } else {
      h_off = (height - crop_size_) / 2;
      w_off = (width - crop_size_) / 2;
    }
  }
  for (int64_t c = 0; c < channels; ++c) {
    const float channel_mean =
        mean_values_.empty() ? 0.f : mean_values_[mean_values_.size() == 1 ? 0 : c];
    for (int64_t h = 0; h < out_h; ++h) {
      for (int64_t w = 0; w < out_w; ++w) {
        const int64_t in_index = (c * height + h_off + h) * width + w_off + w;
        const int64_t out_index = (c * out_h + h) * out_w + (do_mirror ? out_w - 1 - w : w);
        const float x = float(image[in_index]);
        if (mean_) out[out_index] = (x - (*mean_)[in_index]) * scale_;
        else if (!mean_values_.empty()) out[out_index] = (x - channel_mean) * scale_;
        else out[out_index] = x * scale_;
      }
    }
  }
}

}  // namespace augdrop
