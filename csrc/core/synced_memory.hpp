// Host memory and, with the CUDA backend, its device copy, as Caffe's SyncedMemory
// (src/caffe/syncedmem.cpp): the only place that copies between host and device. Each side
// is allocated on first use; the head says which side holds the latest values, and reading
// the other side copies them over. Host memory is 64-byte aligned; both are zero-filled.
#pragma once

#include <cstddef>

namespace augdrop {

class SyncedMemory {
 public:
  enum Head { UNINITIALIZED, HEAD_AT_CPU, HEAD_AT_GPU, SYNCED };

  explicit SyncedMemory(size_t size_bytes);
  ~SyncedMemory();
  SyncedMemory(const SyncedMemory&) = delete;
  SyncedMemory& operator=(const SyncedMemory&) = delete;

  const void* cpu_data();
  void* mutable_cpu_data();
  // Device memory (builds with the CUDA backend; an error otherwise).
  const void* gpu_data();
  void* mutable_gpu_data();
  size_t size() const { return size_; }
  Head head() const { return head_; }

 private:
  void ToCpu();
  void ToGpu();

  void* cpu_ptr_ = nullptr;
  void* gpu_ptr_ = nullptr;
  size_t size_;
  Head head_ = UNINITIALIZED;
};

}  // namespace augdrop
