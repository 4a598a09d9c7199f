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
  pad_ = p.get_int("pad", 0);
  AD_CHECK(pad_ >= 0, "pad must not be negative");
  AD_CHECK(pad_ == 0 || crop_size_ > 0, "pad needs crop_size (pad, then crop)");
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
    AD_CHECK(crop_size_ <= height + 2 * pad_ && crop_size_ <= width + 2 * pad_,
             "crop_size " << crop_size_ << " is larger than the " << (pad_ ? "padded " : "")
                          << "images (" << height + 2 * pad_ << "x" << width + 2 * pad_ << ")");
    return {channels, crop_size_, crop_size_};
  }
  return {channels, height, width};
}

void DataTransformer::Transform(const uint8_t* image, int64_t channels, int64_t height,
                                int64_t width, float* out) {
  TransformImage(image, channels, height, width, out);
}

void DataTransformer::Transform(const float* image, int64_t channels, int64_t height,
                                int64_t width, float* out) {
  TransformImage(image, channels, height, width, out);
}

template <typename Pixel>
void DataTransformer::TransformImage(const Pixel* image, int64_t channels, int64_t height,
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
  // Offsets into the (padded) image; the padding adds pad_ on each side.
  const int64_t padded_h = height + 2 * pad_, padded_w = width + 2 * pad_;
  int64_t h_off = 0, w_off = 0, out_h = height, out_w = width;
  if (crop_size_ > 0) {
    out_h = out_w = crop_size_;
    if (phase_ == Phase::TRAIN) {
      h_off = Rand(uint32_t(padded_h - crop_size_ + 1));
      w_off = Rand(uint32_t(padded_w - crop_size_ + 1));
    } else {
      h_off = (padded_h - crop_size_) / 2;
      w_off = (padded_w - crop_size_) / 2;
    }
  }
  for (int64_t c = 0; c < channels; ++c) {
    const float channel_mean =
        mean_values_.empty() ? 0.f : mean_values_[mean_values_.size() == 1 ? 0 : c];
    for (int64_t h = 0; h < out_h; ++h) {
      const int64_t ih = h + h_off - pad_;
      for (int64_t w = 0; w < out_w; ++w) {
        const int64_t iw = w + w_off - pad_;
        const int64_t out_index = (c * out_h + h) * out_w + (do_mirror ? out_w - 1 - w : w);
        if (ih < 0 || ih >= height || iw < 0 || iw >= width) {
          out[out_index] = 0.f;  // padding
          continue;
        }
        const int64_t in_index = (c * height + ih) * width + iw;
        const float x = float(image[in_index]);
        if (mean_) out[out_index] = (x - (*mean_)[in_index]) * scale_;
        else if (!mean_values_.empty()) out[out_index] = (x - channel_mean) * scale_;
        else out[out_index] = x * scale_;
      }
    }
  }
}

}  // namespace augdrop
