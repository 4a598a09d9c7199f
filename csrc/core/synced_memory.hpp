// Host memory with room for a device copy, as Caffe's SyncedMemory (src/caffe/syncedmem.cpp).
// The only place that would copy between host and device; the CUDA half arrives with the
// CUDA backend (issue 6). Memory is 64-byte aligned and zero-filled on first use.
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
  size_t size() const { return size_; }
  Head head() const { return head_; }

 private:
  void ToCpu();

  void* cpu_ptr_ = nullptr;
  size_t size_;
  Head head_ = UNINITIALIZED;
};

}  // namespace augdrop
