// The images of an ImageData layer's list, read image by image as the layer asks for them:
// the Python driver decodes them (data/images.py, Pillow), so only the images of the batch
// being read are in memory, however long the list.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace augdrop {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual int64_t num() const = 0;  // images in the list
  virtual const std::vector<float>& labels() const = 0;
  // (C, H, W) the image at list position `index` decodes to (from its file's header).
  virtual std::array<int64_t, 3> ImageShape(int64_t index) = 0;
  // The images at list positions `indices`, decoded into (count, C, H, W) uint8: all must
  // have the shape given (that of the first, as Caffe shapes a batch).
  virtual void Read(const std::vector<int64_t>& indices, const std::array<int64_t, 3>& shape,
                    uint8_t* images) = 0;
};

using ImageSourceFactory = std::function<std::unique_ptr<ImageSource>()>;

void RegisterImageSource(const std::string& key, ImageSourceFactory factory);
std::unique_ptr<ImageSource> OpenImageSource(const std::string& key);  // throws if absent

}  // namespace augdrop
