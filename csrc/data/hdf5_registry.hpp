// HDF5 data as the core sees it: the Python driver reads the .h5 files with h5py (the core
// links no HDF5 library) and hands them over here; HDF5Output writes through a callback the
// driver installs. See python/augdrop_caffe/data/hdf5.py.
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

// One file of an HDF5Data source list: one array per top of the layer, in top order, all
// with the same number of rows.
struct Hdf5File {
  std::string name;
  std::vector<Hdf5Array> arrays;
};

struct Hdf5Source {
  std::vector<Hdf5File> files;
};

void RegisterHdf5Source(const std::string& key, std::shared_ptr<const Hdf5Source> source);
std::shared_ptr<const Hdf5Source> FindHdf5Source(const std::string& key);  // throws if absent

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
