// The images and windows of a WindowData layer's window file, as the Python driver reads
// them (data/windows.py): images decoded once, in Caffe's BGR order, kept as OpenCV keeps a
// cv::Mat, (H, W, C) interleaved; each window is (image index, label, overlap, x1, y1, x2, y2)
// with inclusive pixel corners, as R-CNN's window files give them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace augdrop {

struct WindowImage {
  std::string path;
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // (height, width, channels)
};

struct WindowSource {
  std::vector<WindowImage> images;
  std::vector<std::array<float, 7>> windows;
  int64_t channels = 0;  // the channels the window file gives its last image (Caffe's top)
};

void RegisterWindowSource(const std::string& key, std::shared_ptr<const WindowSource> source);
std::shared_ptr<const WindowSource> FindWindowSource(const std::string& key);

}  // namespace augdrop
