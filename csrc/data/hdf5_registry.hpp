// HDF5 data as the core sees it: the Python driver reads the .h5 files with h5py (the core
// links no HDF5 library), one file at a time as an HDF5Data layer reaches it, and HDF5Output
// writes through a callback the driver installs. See python/augdrop_caffe/data/hdf5.py.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace augdrop {

struct Hdf5Array {
  std::vector<int64_t> shape;  // (rows, ...)
  std::vector<float> data;
};

// One file of an HDF5Data source list: one array per top of the layer, in top order.
struct Hdf5File {
  std::string name;
  std::vector<Hdf5Array> arrays;
};

// The files an HDF5Data source lists, loaded one at a time (Caffe holds one in memory).
class Hdf5Source {
 public:
  virtual ~Hdf5Source() = default;
  virtual size_t num_files() const = 0;
  // File `index` of the list, its arrays checked: one per top, each with at least one row,
  // all with the same number of rows.
  virtual Hdf5File Load(size_t index) = 0;
};

void RegisterHdf5Source(const std::string& key, std::shared_ptr<Hdf5Source> source);
std::shared_ptr<Hdf5Source> FindHdf5Source(const std::string& key);  // throws if absent

// Writes datasets (name, shape, values) into an HDF5 file, replacing the file when the list
// is empty (HDF5Output's set-up) and the named datasets otherwise.
struct Hdf5Dataset {
  std::string name;
  std::vector<int64_t> shape;
  const float* data;
};
using Hdf5Writer = std::function<void(const std::string& file, const std::vector<Hdf5Dataset>&)>;
void SetHdf5Writer(Hdf5Writer writer);
// Throws if no writer is installed (h5py missing on the Python side).
void WriteHdf5(const std::string& file, const std::vector<Hdf5Dataset>& datasets);

}  // namespace augdrop
