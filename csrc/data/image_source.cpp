#include "data/image_source.hpp"

#include <map>
#include <mutex>

#include "core/errors.hpp"

namespace augdrop {
namespace {

std::mutex& ImageSourceMutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, ImageSourceFactory>& Factories() {
  static std::map<std::string, ImageSourceFactory> f;
  return f;
}

}  // namespace

void RegisterImageSource(const std::string& key, ImageSourceFactory factory) {
  std::lock_guard<std::mutex> lock(ImageSourceMutex());
  Factories()[key] = std::move(factory);
}

std::unique_ptr<ImageSource> OpenImageSource(const std::string& key) {
  ImageSourceFactory factory;
  {
    std::lock_guard<std::mutex> lock(ImageSourceMutex());
    auto it = Factories().find(key);
    AD_CHECK(it != Factories().end(),
             "image list '" << key << "' is not registered (the Python driver registers "
                               "image_data_param.source before it builds the net)");
    factory = it->second;
  }
  auto source = factory();  // outside the lock: it may decode an image
  AD_CHECK(source && source->num() > 0, "image list '" << key << "' holds no images");
  AD_CHECK(int64_t(source->labels().size()) == source->num(),
           "image list '" << key << "': " << source->labels().size() << " labels for "
                          << source->num() << " images");
  return source;
}

}  // namespace augdrop
