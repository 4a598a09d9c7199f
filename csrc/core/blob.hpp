// Blob: an N-d float32 array with data and diff, as Caffe's Blob (include/caffe/blob.hpp).
// Shapes and counts are 64-bit. Reshape keeps the memory when the new count fits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/synced_memory.hpp"

namespace augdrop {

// enable_shared_from_this: a Blob handed to Python as a bare pointer (a Python layer's bottom
// and top) is shared with its owner rather than copied or left unowned.
class Blob : public std::enable_shared_from_this<Blob> {
 public:
  Blob() = default;
  explicit Blob(const std::vector<int64_t>& shape) { Reshape(shape); }

  void Reshape(const std::vector<int64_t>& shape);
  void ReshapeLike(const Blob& other) { Reshape(other.shape()); }

  const std::vector<int64_t>& shape() const { return shape_; }
  // Negative axes count from the end, as in Caffe.
  int64_t shape(int axis) const { return shape_[CanonicalAxisIndex(axis)]; }
  int num_axes() const { return static_cast<int>(shape_.size()); }
  int64_t count() const { return count_; }
  int64_t count(int start_axis, int end_axis) const;
  int64_t count(int start_axis) const { return count(start_axis, num_axes()); }
  int CanonicalAxisIndex(int axis) const;
  // Caffe's num/channels/height/width: 1 for axes past the end (blob.hpp LegacyShape).
  int64_t LegacyShape(int index) const;
  std::string shape_string() const;

  const float* cpu_data() const;
  const float* cpu_diff() const;
  float* mutable_cpu_data();
  float* mutable_cpu_diff();
  // Device memory (builds with the CUDA backend); host and device copies are kept in step by
  // SyncedMemory.
  const float* gpu_data() const;
  const float* gpu_diff() const;
  float* mutable_gpu_data();
  float* mutable_gpu_diff();

  // The memory behind data and diff (a numpy view holds it, so that a view taken before a
  // Reshape that reallocates stays valid memory, if stale).
  std::shared_ptr<SyncedMemory> data_memory() const { return data_; }
  std::shared_ptr<SyncedMemory> diff_memory() const { return diff_; }

  // Make this blob use other's memory (Split tops, shared test-net weights).
  void ShareData(const Blob& other);
  void ShareDiff(const Blob& other);

  // data -= diff (the parameter update of Caffe's Net::Update); on the device where the data's
  // latest values are (as are sumsq_diff and scale_diff).
  void Update();
  double asum_data() const;
  double asum_diff() const;
  double sumsq_data() const;
  double sumsq_diff() const;
  void scale_diff(float factor);

 private:
  std::vector<int64_t> shape_;
  int64_t count_ = 0;
  int64_t capacity_ = 0;
  std::shared_ptr<SyncedMemory> data_;
  std::shared_ptr<SyncedMemory> diff_;
};

}  // namespace augdrop
