// Data: batches as Caffe's DataLayer reads its database: sequentially from the start,
// wrapping around, no shuffling; each image transformed by transform_param. Tops: data
// (N, C, H', W') and, optionally, label (N,). The records come from an in-memory data set
// (the named sets: MNIST, CIFAR, SVHN) or a record stream (LMDB, read a few batches ahead
// by a prefetch thread as Caffe's BasePrefetchingDataLayer; data/record_stream.hpp).
// DEVIATION (opt-in): data_param.shuffle reads the records in a new random order each epoch,
// from a private stream seeded with one more word of the Caffe stream.
// Stream use as Caffe: at set-up two words seed the transformer (when it needs random
// numbers; Caffe seeds it twice, the second seed wins) and one word seeds the prefetch
// thread Caffe would start.
#pragma once

#include <memory>
#include <random>

#include "data/data_transformer.hpp"
#include "data/dataset_registry.hpp"
#include "data/record_stream.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class DataLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "Data"; }
  int ExactNumBottomBlobs() const override { return 0; }
  int MinTopBlobs() const override { return 1; }
  int MaxTopBlobs() const override { return 2; }
  bool HasBackward() const override { return false; }

  std::string SaveState() const override;
  void LoadState(const std::string& state) override;

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}

 private:
  std::shared_ptr<const Dataset> dataset_;  // one of these two
  std::unique_ptr<RecordStream> stream_;
  int64_t num_records_ = 0;
  std::array<int64_t, 3> record_shape_{};  // (C, H, W)
  std::vector<uint8_t> stream_images_;     // a batch read from stream_, (N, C, H, W)
  std::vector<float> stream_labels_;
  std::unique_ptr<DataTransformer> transformer_;
  // A new order of the records for the next epoch (shuffle only).
  void Reshuffle();

  int64_t batch_size_ = 0;
  int64_t cursor_ = 0;  // the next record to read (a position in order_ when shuffling)
  bool shuffle_ = false;
  std::vector<int64_t> order_;
  std::mt19937 shuffle_rng_;
};

}  // namespace augdrop
