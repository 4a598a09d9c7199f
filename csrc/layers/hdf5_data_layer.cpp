#include "layers/hdf5_data_layer.hpp"

#include <algorithm>
#include <sstream>

#include "core/rng.hpp"

namespace augdrop {

void HDF5DataLayer::LayerSetUp(const BlobVec& bottom, const BlobVec& top) {
  AD_CHECK(!layer_param_.has("transform_param"), "HDF5Data does not transform data");
  const Params& p = layer_param_.get_message("hdf5_data_param");
  AD_CHECK(p.has("source"), "hdf5_data_param.source is required");
  batch_size_ = p.get_int("batch_size", 0);
  AD_CHECK(batch_size_ > 0, "hdf5_data_param.batch_size must be positive");
  shuffle_ = p.get_bool("shuffle", false);
  source_ = FindHdf5Source(p.get_string("source", ""));
  if (shuffle_) rng_.seed(caffe_rng_rand());
  file_permutation_.resize(source_->num_files());
  for (size_t i = 0; i < file_permutation_.size(); ++i) file_permutation_[i] = int64_t(i);
  if (shuffle_) Shuffle(&file_permutation_);
  current_file_ = 0;
  row_sizes_.clear();
  LoadFile(0);
  current_row_ = 0;
  AD_CHECK(file_.arrays.size() == top.size(), file_.name << ": " << file_.arrays.size()
                                                         << " datasets for " << top.size() << " tops");
  for (size_t j = 0; j < top.size(); ++j) {
    std::vector<int64_t> shape = file_.arrays[j].shape;
    shape[0] = batch_size_;
    top[j]->Reshape(shape);
    row_sizes_.push_back(top[j]->count(1));
  }
}

void HDF5DataLayer::Shuffle(std::vector<int64_t>* order) {
  for (int64_t i = int64_t(order->size()) - 1; i > 0; --i) {
    const int64_t j = int64_t(rng_() % uint64_t(i + 1));
    std::swap((*order)[i], (*order)[j]);
  }
}

void HDF5DataLayer::LoadFile(size_t index) {
  file_ = source_->Load(size_t(file_permutation_[index]));
  const int64_t rows = file_.arrays.at(0).shape.at(0);
  for (size_t j = 0; j < row_sizes_.size(); ++j) {  // files after the first: the tops' shapes
    const auto& a = file_.arrays.at(j);
    AD_CHECK(int64_t(a.data.size()) == rows * row_sizes_[j],
             file_.name << ": dataset " << j << " has rows of " << a.data.size() / rows
                        << " values, the first file's " << row_sizes_[j]);
  }
  data_permutation_.resize(rows);
  for (size_t i = 0; i < data_permutation_.size(); ++i) data_permutation_[i] = int64_t(i);
  if (shuffle_) Shuffle(&data_permutation_);
}

void HDF5DataLayer::Next() {
  if (++current_row_ == file_.arrays[0].shape[0]) {
    if (source_->num_files() > 1) {
      if (++current_file_ == source_->num_files()) {
        current_file_ = 0;
        if (shuffle_) Shuffle(&file_permutation_);
      }
      LoadFile(current_file_);
    }
    current_row_ = 0;
    if (shuffle_) Shuffle(&data_permutation_);
  }
}

void HDF5DataLayer::Forward_cpu(const BlobVec& bottom, const BlobVec& top) {
  for (int64_t i = 0; i < batch_size_; ++i) {
    for (size_t j = 0; j < top.size(); ++j) {
      const int64_t dim = row_sizes_[j];
      const float* row = file_.arrays[j].data.data() + data_permutation_[current_row_] * dim;
      std::copy(row, row + dim, top[j]->mutable_cpu_data() + i * dim);
    }
    Next();
  }
}

}  // namespace augdrop

namespace augdrop {

std::string HDF5DataLayer::SaveState() const {
  std::ostringstream os;
  os << current_file_ << " " << current_row_ << "\n" << rng_ << "\n";
  for (int64_t f : file_permutation_) os << f << " ";
  os << "\n";
  for (int64_t r : data_permutation_) os << r << " ";
  os << "\n";
  return os.str();
}

void HDF5DataLayer::LoadState(const std::string& state) {
  std::istringstream is(state);
  size_t file = 0;
  int64_t row = 0;
  is >> file >> row >> rng_;
  AD_CHECK(!is.fail() && file < file_permutation_.size(), "bad HDF5Data state");
  for (auto& f : file_permutation_) is >> f;
  AD_CHECK(!is.fail(), "bad file order in the HDF5Data state");
  current_file_ = file;
  const std::mt19937 saved = rng_;  // loading may shuffle: the snapshot's stream stays
  LoadFile(current_file_);          // then the row order the snapshot had
  rng_ = saved;
  for (auto& r : data_permutation_) is >> r;
  AD_CHECK(!is.fail() && row >= 0 && row < int64_t(data_permutation_.size()),
           "bad row order in the HDF5Data state");
  current_row_ = row;
}

}  // namespace augdrop
