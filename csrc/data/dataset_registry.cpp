#include "data/dataset_registry.hpp"

#include <map>
#include <mutex>

#include "core/errors.hpp"
#include "data/record_stream.hpp"

namespace augdrop {
namespace {

struct MeanEntry {
  std::shared_ptr<const std::vector<float>> values;
  std::vector<int64_t> shape;
};

std::mutex& RegistryMutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::shared_ptr<const Dataset>>& Datasets() {
  static std::map<std::string, std::shared_ptr<const Dataset>> d;
  return d;
}
std::map<std::string, MeanEntry>& Means() {
  static std::map<std::string, MeanEntry> m;
  return m;
}
std::map<std::string, RecordStreamFactory>& Streams() {
  static std::map<std::string, RecordStreamFactory> s;
  return s;
}

}  // namespace

void RegisterDataset(const std::string& key, std::shared_ptr<const Dataset> dataset) {
  AD_CHECK(dataset && dataset->num > 0, "data set '" << key << "' is empty");
  AD_CHECK(int64_t(dataset->images.size()) ==
               dataset->num * dataset->channels * dataset->height * dataset->width,
           "data set '" << key << "': image bytes do not match its shape");
  AD_CHECK(int64_t(dataset->labels.size()) == dataset->num,
           "data set '" << key << "': " << dataset->labels.size() << " labels for "
                        << dataset->num << " images");
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Datasets()[key] = std::move(dataset);
}

std::shared_ptr<const Dataset> FindDataset(const std::string& key) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Datasets().find(key);
  AD_CHECK(it != Datasets().end(),
           "data source '" << key << "' is not loaded (the Python driver loads data sources "
                              "named in data_param.source before it builds the net)");
  return it->second;
}

void RegisterMean(const std::string& key, std::shared_ptr<const std::vector<float>> mean,
                  const std::vector<int64_t>& shape) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Means()[key] = MeanEntry{std::move(mean), shape};
}

std::shared_ptr<const std::vector<float>> FindMean(const std::string& key,
                                                   std::vector<int64_t>* shape) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Means().find(key);
  AD_CHECK(it != Means().end(), "mean file '" << key << "' is not loaded");
  *shape = it->second.shape;
  return it->second.values;
}

void RegisterStream(const std::string& key, RecordStreamFactory factory) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Streams()[key] = std::move(factory);
}

bool HasStream(const std::string& key) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  return Streams().count(key) > 0;
}

std::unique_ptr<RecordStream> OpenStream(const std::string& key, int64_t batch_size) {
  RecordStreamFactory factory;
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto it = Streams().find(key);
    AD_CHECK(it != Streams().end(), "data source '" << key << "' is not registered");
    factory = it->second;
  }
  auto stream = factory(batch_size);  // outside the lock: the factory may take a while
  AD_CHECK(stream && stream->num() > 0, "data source '" << key << "' holds no records");
  return stream;
}

std::vector<std::string> RegisteredDatasets() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  std::vector<std::string> out;
  for (const auto& kv : Datasets()) out.push_back(kv.first);
  for (const auto& kv : Streams()) out.push_back(kv.first);
  return out;
}

void ClearDatasets() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Datasets().clear();
  Means().clear();
  Streams().clear();
}

}  // namespace augdrop
