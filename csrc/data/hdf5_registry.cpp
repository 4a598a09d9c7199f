#include "data/hdf5_registry.hpp"

#include <map>
#include <mutex>

#include "core/errors.hpp"

namespace augdrop {
namespace {

std::mutex& Hdf5Mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::shared_ptr<const Hdf5Source>>& Sources() {
  static std::map<std::string, std::shared_ptr<const Hdf5Source>> s;
  return s;
}
Hdf5Writer& Writer() {
  static Hdf5Writer w;
  return w;
}

}  // namespace

void RegisterHdf5Source(const std::string& key, std::shared_ptr<const Hdf5Source> source) {
  AD_CHECK(source && !source->files.empty(), "HDF5 source '" << key << "' lists no files");
  for (const auto& file : source->files) {
    AD_CHECK(!file.arrays.empty(), file.name << ": no datasets");
    const int64_t rows = file.arrays[0].shape.empty() ? 0 : file.arrays[0].shape[0];
    for (const auto& a : file.arrays) {
      int64_t count = 1;
      for (int64_t d : a.shape) count *= d;
      AD_CHECK(!a.shape.empty() && a.shape[0] == rows && rows > 0,
               file.name << ": every dataset needs the same positive number of rows");
      AD_CHECK(int64_t(a.data.size()) == count, file.name << ": values do not match the shape");
    }
  }
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  Sources()[key] = std::move(source);
}

std::shared_ptr<const Hdf5Source> FindHdf5Source(const std::string& key) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  auto it = Sources().find(key);
  AD_CHECK(it != Sources().end(),
           "HDF5 source '" << key << "' is not loaded (the Python driver loads the files named "
                              "in hdf5_data_param.source before it builds the net)");
  return it->second;
}

void SetHdf5Writer(Hdf5Writer writer) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  Writer() = std::move(writer);
}

void WriteHdf5(const std::string& file, const std::vector<Hdf5Dataset>& datasets) {
  Hdf5Writer writer;
  {
    std::lock_guard<std::mutex> lock(Hdf5Mutex());
    writer = Writer();
  }
  AD_CHECK(writer, "writing HDF5 files needs the h5py package (pip install h5py); the Python "
                   "driver installs the writer when it prepares the net");
  writer(file, datasets);
}

}  // namespace augdrop
