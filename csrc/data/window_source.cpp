#include "data/window_source.hpp"

#include <map>
#include <mutex>

#include "core/errors.hpp"

namespace augdrop {
namespace {

std::mutex& WindowMutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::shared_ptr<const WindowSource>>& Sources() {
  static std::map<std::string, std::shared_ptr<const WindowSource>> s;
  return s;
}

}  // namespace

void RegisterWindowSource(const std::string& key, std::shared_ptr<const WindowSource> source) {
  AD_CHECK(source && !source->images.empty(), "window file '" << key << "' lists no image");
  for (const auto& im : source->images)
    AD_CHECK(int64_t(im.pixels.size()) == im.channels * im.height * im.width,
             im.path << ": pixels do not match the image's shape");
  for (const auto& w : source->windows)
    AD_CHECK(w[0] >= 0 && w[0] < float(source->images.size()),
             "window file '" << key << "': a window names image " << w[0] << " of "
                             << source->images.size());
  std::lock_guard<std::mutex> lock(WindowMutex());
  Sources()[key] = std::move(source);
}

std::shared_ptr<const WindowSource> FindWindowSource(const std::string& key) {
  std::lock_guard<std::mutex> lock(WindowMutex());
  auto it = Sources().find(key);
  AD_CHECK(it != Sources().end(), "window file '" << key << "' is not loaded (the Python "
                                  "driver loads window_data_param.source before it builds the net)");
  return it->second;
}

}  // namespace augdrop
