// HDF5Data: rows of the datasets of a list of .h5 files (Caffe's hdf5_data_layer.cpp). Each
// top reads the dataset of its own name; top j is (batch_size, dims of dataset j after its
// first). Rows are read in order through one file, then the next, wrapping around after the
// last; with shuffle, the file order is shuffled at set-up and at each wrap, and the row
// order of a file each time a file is finished. No transform_param (Caffe refuses it).
// The files are read by the Python driver (data/hdf5.py) as the layer reaches them.
// DEVIATION: Caffe shuffles with std::random_shuffle (the C library's rand(), not
// reproducible); here a private mt19937 seeded with one word of the Caffe stream at set-up
// (drawn only with shuffle). As in Caffe, one file is in memory at a time.
#pragma once

#include <memory>
#include <random>
#include <vector>

#include "data/hdf5_registry.hpp"
#include "layers/layer.hpp"

namespace augdrop {

class HDF5DataLayer : public Layer {
 public:
  using Layer::Layer;
  void LayerSetUp(const BlobVec& bottom, const BlobVec& top) override;
  void Reshape(const BlobVec& bottom, const BlobVec& top) override {}
  const char* type() const override { return "HDF5Data"; }
  int ExactNumBottomBlobs() const override { return 0; }
  int MinTopBlobs() const override { return 1; }
  bool HasBackward() const override { return false; }

  // The read position and orders: a snapshot resumes the same batches.
  std::string SaveState() const override;
  void LoadState(const std::string& state) override;

 protected:
  void Forward_cpu(const BlobVec& bottom, const BlobVec& top) override;
  void Backward_cpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                    const BlobVec& bottom) override {}

 private:
  void LoadFile(size_t index);  // the file at position `index` of file_permutation_
  void Next();
  void Shuffle(std::vector<int64_t>* order);

  std::shared_ptr<Hdf5Source> source_;
  Hdf5File file_;                   // the file being read
  std::vector<int64_t> row_sizes_;  // values per row of each top
  int64_t batch_size_ = 0;
  bool shuffle_ = false;
  std::mt19937 rng_;
  std::vector<int64_t> file_permutation_, data_permutation_;
  size_t current_file_ = 0;
  int64_t current_row_ = 0;
};

}  // namespace augdrop
