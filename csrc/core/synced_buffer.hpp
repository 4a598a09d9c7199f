// SyncedBuffer<T>: a 1-d array of T over one SyncedMemory, for a layer's non-float state
// (Caffe keeps such state in Blob<int> / Blob<unsigned int> members: EltwiseLayer's max_idx_,
// DropoutLayer's rand_vec_). The host and the device see the same buffer; SyncedMemory copies
// between them when the other side reads, so a layer keeps one member per piece of state and
// its CPU and GPU paths may follow each other in either order.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>

#include "core/errors.hpp"
#include "core/synced_memory.hpp"

namespace augdrop {

template <typename T>
class SyncedBuffer {
  static_assert(std::is_trivially_copyable<T>::value, "SyncedBuffer holds plain values");

 public:
  // Keeps the memory (and its values) when count fits the capacity, as Blob::Reshape does;
  // new memory starts zero-filled.
  void Resize(int64_t count) {
    AD_CHECK(count >= 0, "negative buffer size " << count);
    count_ = count;
    if (count_ > capacity_ || !mem_) {
      capacity_ = count_;
      mem_ = std::make_unique<SyncedMemory>(size_t(capacity_) * sizeof(T));
    }
  }
  int64_t count() const { return count_; }

  const T* cpu_data() const { return static_cast<const T*>(Mem()->cpu_data()); }
  T* mutable_cpu_data() { return static_cast<T*>(Mem()->mutable_cpu_data()); }
  // Device memory (builds with the CUDA backend; an error otherwise).
  const T* gpu_data() const { return static_cast<const T*>(Mem()->gpu_data()); }
  T* mutable_gpu_data() { return static_cast<T*>(Mem()->mutable_gpu_data()); }

 private:
  SyncedMemory* Mem() const {
    AD_CHECK(mem_ != nullptr, "buffer used before it was sized");
    return mem_.get();
  }

  int64_t count_ = 0;
  int64_t capacity_ = 0;
  std::unique_ptr<SyncedMemory> mem_;
};

}  // namespace augdrop
