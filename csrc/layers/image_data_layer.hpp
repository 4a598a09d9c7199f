// ImageData: batches of the images a list file names, "path label" a line (Caffe's
// image_data_layer.cpp). The Python driver (data/images.py) decodes each batch's images
// with Pillow as this layer asks for them (data/image_source.hpp), in Caffe's channel order
// (BGR, or one gray channel when is_color is false), resized to new_height x new_width when
// both are given; this layer reads them in list order, wrapping around, each image
// transformed by transform_param. As in Caffe, each batch takes the shape of its first image
// (so a list of images of different sizes works with batch_size 1); the other images of a
// batch must come out that size. shuffle: the list is shuffled at set-up and at every wrap with Caffe's
// caffe::shuffle over a private boost::mt19937 seeded with one word of the Caffe stream;
// rand_skip: the first batch starts at caffe_rng_rand() % rand_skip. Stream use at set-up as
// Caffe: transformer seed, shuffle seed, skip, transformer seed again, prefetch thread seed.
// Tops: data (N, C, H', W'), label (N,).
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "core/rng.hpp"
#include "data/data_transformer.hpp"
#include "data/image_source.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class ImageDataLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "ImageData"; }
  int ExactNumBottomBlobs() const override { return 0; }
  int ExactNumTopBlobs() const override { return 2; }
  bool HasBackward() const override { return false; }

  // Where the list is read (and its shuffled order): a snapshot resumes the same batches.
  std::string SaveState() const override;
  void LoadState(const std::string& state) override;

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}

 private:
  void ShuffleImages();

  std::unique_ptr<ImageSource> images_;
  std::vector<int64_t> batch_indices_;  // the list positions of the batch being read
  std::vector<uint8_t> batch_images_;   // their pixels, (N, C, H, W)
  std::array<int64_t, 3> batch_shape_{};  // (C, H, W) of the batch's images
  std::unique_ptr<DataTransformer> transformer_;
  std::unique_ptr<Rng> shuffle_rng_;
  std::vector<int64_t> lines_;  // the list's order: indices into images_
  int64_t lines_id_ = 0;
  int64_t batch_size_ = 0;
  bool shuffle_ = false;
};

}  // namespace augdrop
