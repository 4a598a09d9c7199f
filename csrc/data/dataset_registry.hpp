// Data sets held in memory by the core, loaded once by the Python driver and shared by every
// Data layer (train and test nets) that names them. Images are uint8 (N, C, H, W) as Caffe's
// Datum records hold them, or float (a preprocessed set such as CIFAR-10 after GCN and ZCA
// whitening, as a Datum's float_data holds it); labels are one float per image. Mean images
// are float (C, H, W).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace augdrop {

struct Dataset {
  // Exactly one of the two holds the pixels, (num, channels, height, width).
  std::vector<uint8_t> images;
  std::vector<float> float_images;
  std::vector<float> labels;    // (num,)
  int64_t num = 0, channels = 0, height = 0, width = 0;
  bool is_float() const { return !float_images.empty(); }
};

void RegisterDataset(const std::string& key, std::shared_ptr<const Dataset> dataset);
std::shared_ptr<const Dataset> FindDataset(const std::string& key);  // throws if absent

void RegisterMean(const std::string& key, std::shared_ptr<const std::vector<float>> mean,
                  const std::vector<int64_t>& shape);
std::shared_ptr<const std::vector<float>> FindMean(const std::string& key,
                                                   std::vector<int64_t>* shape);

std::vector<std::string> RegisteredDatasets();
void ClearDatasets();

}  // namespace augdrop
