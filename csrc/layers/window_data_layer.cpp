#include "layers/window_data_layer.hpp"

#include <algorithm>
#include <cmath>

#include "data/dataset_registry.hpp"

namespace augdrop {
namespace {

// cv::resize(INTER_LINEAR) of a uint8 (H, W, C) region: the source coordinate of a target
// pixel is (x + 0.5) * src / dst - 0.5, clamped to the image at its borders.
void ResizeLinear(const uint8_t* src, int64_t src_stride, int64_t src_h, int64_t src_w,
                  int64_t channels, int64_t dst_h, int64_t dst_w, std::vector<float>* dst) {
  dst->assign(dst_h * dst_w * channels, 0.f);
  auto coord = [](int64_t d, int64_t src_n, int64_t dst_n, int64_t* i0, float* f) {
    float s = (float(d) + 0.5f) * float(src_n) / float(dst_n) - 0.5f;
    int64_t i = int64_t(std::floor(s));
    *f = s - float(i);
    if (i < 0) { i = 0; *f = 0.f; }
    if (i >= src_n - 1) { i = src_n - 1; *f = 0.f; }
    *i0 = i;
  };
  for (int64_t y = 0; y < dst_h; ++y) {
    int64_t y0;
    float fy;
    coord(y, src_h, dst_h, &y0, &fy);
    const int64_t y1 = std::min(y0 + 1, src_h - 1);
    for (int64_t x = 0; x < dst_w; ++x) {
      int64_t x0;
      float fx;
      coord(x, src_w, dst_w, &x0, &fx);
      const int64_t x1 = std::min(x0 + 1, src_w - 1);
      for (int64_t c = 0; c < channels; ++c) {
        auto at = [&](int64_t yy, int64_t xx) { return float(src[yy * src_stride + xx * channels + c]); };
        const float v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                        fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        (*dst)[(y * dst_w + x) * channels + c] = std::min(255.f, std::max(0.f, std::round(v)));
      }
    }
  }
}

}  // namespace

void WindowDataLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  const Params& p = layer_param_.get_message("window_data_param");
  const Params& tp = layer_param_.get_message("transform_param");
  AD_CHECK(p.has("source"), "window_data_param.source is required");
  batch_size_ = p.get_int("batch_size", 0);
  AD_CHECK(batch_size_ > 0, "window_data_param.batch_size must be positive");
  crop_size_ = tp.get_int("crop_size", 0);
  AD_CHECK(crop_size_ > 0, "WindowData needs transform_param.crop_size");
  mirror_ = tp.get_bool("mirror", false);
  context_pad_ = p.get_int("context_pad", 0);
  AD_CHECK(2 * context_pad_ < crop_size_, "context_pad " << context_pad_ << " leaves no room "
                                          "in crop_size " << crop_size_);
  const std::string crop_mode = p.get_string("crop_mode", "warp");
  AD_CHECK(crop_mode == "warp" || crop_mode == "square",
           "crop_mode must be warp or square, got '" << crop_mode << "'");
  square_ = crop_mode == "square";
  scale_ = float(p.get_float("scale", 1.0));
  fg_fraction_ = float(p.get_float("fg_fraction", 0.25));
  source_ = FindWindowSource(p.get_string("source", ""));

  // BaseDataLayer's transformer (drawing as Caffe's), then the prefetch stream's seed.
  transformer_ = std::make_unique<DataTransformer>(tp, phase_);
  transformer_->InitRand();
  prefetch_rng_ = std::make_unique<Rng>(caffe_rng_rand());  // crop_size > 0: always seeded

  const float fg_threshold = float(p.get_float("fg_threshold", 0.5));
  const float bg_threshold = float(p.get_float("bg_threshold", 0.5));
  for (auto w : source_->windows) {
    if (w[2] >= fg_threshold) {
      AD_CHECK(w[1] > 0, "a foreground window (overlap " << w[2] << ") of image '"
                             << source_->images[int64_t(w[0])].path << "' has label " << w[1]
                             << "; foreground labels must be positive");
      fg_windows_.push_back(w);
    } else if (w[2] < bg_threshold) {
      w[1] = 0;  // background: label and overlap 0
      w[2] = 0;
      bg_windows_.push_back(w);
    }
  }
  AD_CHECK(!fg_windows_.empty() && !bg_windows_.empty(),
           "the window file needs foreground and background windows ("
               << fg_windows_.size() << " and " << bg_windows_.size() << " with fg_threshold "
               << fg_threshold << ", bg_threshold " << bg_threshold << ")");
  channels_ = source_->channels;
  for (const auto& im : source_->images)
    AD_CHECK(im.channels == channels_, im.path << " has " << im.channels << " channels, the "
                                               "window file's images " << channels_);
  if (tp.has("mean_file")) {
    AD_CHECK(!tp.has("mean_value"), "give mean_file or mean_value, not both");
    mean_ = FindMean(tp.get_string("mean_file", ""), &mean_shape_);
    AD_CHECK(mean_shape_[0] == channels_ && mean_shape_[1] >= crop_size_ &&
                 mean_shape_[2] >= crop_size_,
             "the mean file's shape must be (" << channels_ << ", >= crop_size, >= crop_size)");
  }
  for (double v : tp.get_floats("mean_value")) mean_values_.push_back(float(v));
  AD_CHECK(mean_values_.empty() || mean_values_.size() == 1 ||
               int64_t(mean_values_.size()) == channels_,
           "give one mean_value or one per channel (" << channels_ << ")");
  if (mean_values_.size() == 1) mean_values_.assign(channels_, mean_values_[0]);

  transformer_->InitRand();  // BasePrefetchingDataLayer::LayerSetUp
  caffe_rng_rand();          // the seed of Caffe's prefetch thread
  top[0]->Reshape({batch_size_, channels_, crop_size_, crop_size_});
  top[1]->Reshape({batch_size_});
}

void WindowDataLayer::WarpWindow(const std::array<float, 7>& window, bool mirror, int64_t item,
                                 float* data) {
  const WindowImage& image = source_->images[int64_t(window[0])];
  int64_t x1 = int64_t(window[3]), y1 = int64_t(window[4]);
  int64_t x2 = int64_t(window[5]), y2 = int64_t(window[6]);
  int64_t crop_w = crop_size_, crop_h = crop_size_, pad_w = 0, pad_h = 0;
  if (context_pad_ > 0 || square_) {
    // Grow the window so that, once warped, context_pad pixels of context surround it.
    const float context_scale = float(crop_size_) / float(crop_size_ - 2 * context_pad_);
    float half_h = float(y2 - y1 + 1) / 2.f, half_w = float(x2 - x1 + 1) / 2.f;
    const float cx = float(x1) + half_w, cy = float(y1) + half_h;
    if (square_) half_h = half_w = std::max(half_h, half_w);
    x1 = int64_t(std::round(cx - half_w * context_scale));
    x2 = int64_t(std::round(cx + half_w * context_scale));
    y1 = int64_t(std::round(cy - half_h * context_scale));
    y2 = int64_t(std::round(cy + half_h * context_scale));
    // Clip to the image; what lies outside stays 0 in the crop.
    const int64_t unclipped_h = y2 - y1 + 1, unclipped_w = x2 - x1 + 1;
    int64_t pad_x1 = std::max<int64_t>(0, -x1), pad_y1 = std::max<int64_t>(0, -y1);
    int64_t pad_x2 = std::max<int64_t>(0, x2 - image.width + 1);
    int64_t pad_y2 = std::max<int64_t>(0, y2 - image.height + 1);
    x1 += pad_x1;
    x2 -= pad_x2;
    y1 += pad_y1;
    y2 -= pad_y2;
    const float scale_x = float(crop_size_) / float(unclipped_w);
    const float scale_y = float(crop_size_) / float(unclipped_h);
    crop_w = int64_t(std::round(float(x2 - x1 + 1) * scale_x));
    crop_h = int64_t(std::round(float(y2 - y1 + 1) * scale_y));
    pad_x1 = int64_t(std::round(float(pad_x1) * scale_x));
    pad_x2 = int64_t(std::round(float(pad_x2) * scale_x));
    pad_y1 = int64_t(std::round(float(pad_y1) * scale_y));
    pad_h = pad_y1;
    pad_w = mirror ? pad_x2 : pad_x1;  // the padding mirrors with the image
    if (pad_h + crop_h > crop_size_) crop_h = crop_size_ - pad_h;
    if (pad_w + crop_w > crop_size_) crop_w = crop_size_ - pad_w;
  }
  AD_CHECK(x1 >= 0 && y1 >= 0 && x2 < image.width && y2 < image.height && x1 <= x2 && y1 <= y2,
           image.path << ": window (" << x1 << ", " << y1 << ", " << x2 << ", " << y2
                      << ") lies outside the " << image.width << "x" << image.height << " image");
  if (crop_w <= 0 || crop_h <= 0) return;
  std::vector<float> warped;
  const int64_t c_n = image.channels;
  ResizeLinear(image.pixels.data() + (y1 * image.width + x1) * c_n, image.width * c_n,
               y2 - y1 + 1, x2 - x1 + 1, c_n, crop_h, crop_w, &warped);
  const int64_t mean_h = mean_ ? mean_shape_[1] : 0, mean_w = mean_ ? mean_shape_[2] : 0;
  const int64_t mean_off = mean_ ? (mean_w - crop_size_) / 2 : 0;
  for (int64_t h = 0; h < crop_h; ++h) {
    for (int64_t w = 0; w < crop_w; ++w) {
      const int64_t src_w = mirror ? crop_w - 1 - w : w;
      for (int64_t c = 0; c < c_n; ++c) {
        const float pixel = warped[(h * crop_w + src_w) * c_n + c];
        const int64_t top_index = ((item * c_n + c) * crop_size_ + h + pad_h) * crop_size_ + w + pad_w;
        float mean = 0.f;
        if (mean_)
          mean = (*mean_)[(c * mean_h + h + mean_off + pad_h) * mean_w + w + mean_off + pad_w];
        else if (!mean_values_.empty())
          mean = mean_values_[c];
        data[top_index] = (pixel - mean) * scale_;
      }
    }
  }
}

void WindowDataLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  float* data = top[0]->mutable_cpu_data();
  float* label = top[1]->mutable_cpu_data();
  std::fill(data, data + top[0]->count(), 0.f);
  const int64_t num_fg = int64_t(float(batch_size_) * fg_fraction_);
  const int64_t num_samples[2] = {batch_size_ - num_fg, num_fg};
  int64_t item = 0;
  for (int is_fg = 0; is_fg < 2; ++is_fg) {
    const auto& windows = is_fg ? fg_windows_ : bg_windows_;
    for (int64_t k = 0; k < num_samples[is_fg]; ++k) {
      const uint32_t r = (*prefetch_rng_)();
      const auto& window = windows[r % windows.size()];
      const bool mirror = mirror_ && ((*prefetch_rng_)() % 2);
      WarpWindow(window, mirror, item, data);
      label[item] = window[1];
      ++item;
    }
  }
}

}  // namespace augdrop
