// Caffe's DataTransformer (src/caffe/data_transformer.cpp) for uint8 images and for float
// images (as Caffe transforms a Datum's float_data: the same crop, mirror, mean and scale,
// applied to the float values): out = (x - mean) * scale, with mean from a mean file (per pixel) or mean_value (per
// channel), an optional crop (random offsets in TRAIN, centred in TEST) and mirror (a random
// flip wherever it is set). Random draws come from the transformer's own mt19937, seeded
// with one word of the Caffe stream at set-up, in Caffe's order: mirror, then h_off, w_off.
// DEVIATION (extension): transform_param.pad zero-pads the transformed image on each side
// before the crop, for ResNet-20's pad-4-and-crop augmentation; the padding is 0 in the
// output (the mean, in input terms).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class DataTransformer {
 public:
  DataTransformer(const Params& transform_param, Phase phase);
  // Draws the transformer's seed from the Caffe stream when it needs random numbers.
  void InitRand();
  // Output shape (C, H', W') of an input image of shape (C, H, W).
  std::vector<int64_t> OutputShape(int64_t channels, int64_t height, int64_t width) const;
  std::string SaveState() const;
  void LoadState(const std::string& state);
  // image: (C, H, W) uint8 or float; out: (C, H', W').
  void Transform(const uint8_t* image, int64_t channels, int64_t height, int64_t width,
                 float* out);
  void Transform(const float* image, int64_t channels, int64_t height, int64_t width,
                 float* out);

 private:
  uint32_t Rand(uint32_t n);
  template <typename Pixel>
  void TransformImage(const Pixel* image, int64_t channels, int64_t height, int64_t width,
                      float* out);

  Phase phase_;
  float scale_ = 1.f;
  bool mirror_ = false;
  int64_t crop_size_ = 0;
  int64_t pad_ = 0;
  std::shared_ptr<const std::vector<float>> mean_;  // (C, H, W) from mean_file
  std::vector<int64_t> mean_shape_;
  std::vector<float> mean_values_;
  std::unique_ptr<std::mt19937> rng_;
};

}  // namespace augdrop
