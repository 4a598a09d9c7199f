// WindowData: R-CNN's batches of image windows (Caffe's window_data_layer.cpp). Each batch
// draws batch_size * (1 - fg_fraction) background windows (overlap < bg_threshold, label 0),
// then the rest from the foreground (overlap >= fg_threshold; labels > 0), each uniformly
// (word % count) from a private boost::mt19937 seeded with one word of the Caffe stream.
// A window is grown by context_pad (and to a square with crop_mode "square"), clipped to its
// image, warped to crop_size x crop_size (transform_param.crop_size) with the clipped part
// left 0, mirrored at random with transform_param.mirror, then out = (pixel - mean) *
// window_data_param.scale, the mean from transform_param's mean_file (its centre) or
// mean_value. Tops: data (N, C, crop, crop), label (N,). The images are decoded once by the
// Python driver (data/windows.py; cache_images is thus implied).
// DEVIATION: the warp is a float bilinear resize with OpenCV's INTER_LINEAR pixel mapping,
// rounded to uint8; OpenCV's fixed-point arithmetic may differ from it by one level.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "core/rng.hpp"
#include "data/data_transformer.hpp"
#include "data/window_source.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class WindowDataLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "WindowData"; }
  int ExactNumBottomBlobs() const override { return 0; }
  int ExactNumTopBlobs() const override { return 2; }
  bool HasBackward() const override { return false; }

  std::string SaveState() const override { return prefetch_rng_->state(); }
  void LoadState(const std::string& state) override { prefetch_rng_->set_state(state); }

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}

 private:
  // One window warped into item `item` of the data top (already zeroed).
  void WarpWindow(const std::array<float, 7>& window, bool mirror, int64_t item, float* data);

  std::shared_ptr<const WindowSource> source_;
  std::vector<std::array<float, 7>> fg_windows_, bg_windows_;
  std::unique_ptr<DataTransformer> transformer_;  // drawn as Caffe's; the warp is this layer's
  std::unique_ptr<Rng> prefetch_rng_;
  int64_t batch_size_ = 0, crop_size_ = 0, context_pad_ = 0, channels_ = 0;
  float scale_ = 1.f, fg_fraction_ = 0.25f;
  bool mirror_ = false, square_ = false;
  std::shared_ptr<const std::vector<float>> mean_;  // (C, H, W) from mean_file
  std::vector<int64_t> mean_shape_;
  std::vector<float> mean_values_;
};

}  // namespace augdrop
