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
std::map<std::string, std::shared_ptr<Hdf5Source>>& Sources() {
  static std::map<std::string, std::shared_ptr<Hdf5Source>> s;
  return s;
}
Hdf5Writer& Writer() {
  static Hdf5Writer w;
  return w;
}

}  // namespace

void RegisterHdf5Source(const std::string& key, std::shared_ptr<Hdf5Source> source) {
  AD_CHECK(source && source->num_files() > 0, "HDF5 source '" << key << "' lists no files");
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  Sources()[key] = std::move(source);
}

std::shared_ptr<Hdf5Source> FindHdf5Source(const std::string& key) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  auto it = Sources().find(key);
  AD_CHECK(it != Sources().end(),
           "HDF5 source '" << key << "' is not loaded (the Python driver registers the files "
                              "named in hdf5_data_param.source before it builds the net)");
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
