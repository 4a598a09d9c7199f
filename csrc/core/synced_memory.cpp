#include "core/synced_memory.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/errors.hpp"

namespace augdrop {

SyncedMemory::SyncedMemory(size_t size_bytes) : size_(size_bytes) {}

SyncedMemory::~SyncedMemory() { std::free(cpu_ptr_); }

void SyncedMemory::ToCpu() {
  if (head_ != UNINITIALIZED) return;
  const size_t alignment = 64;
  size_t rounded = (size_ + alignment - 1) / alignment * alignment;
  if (rounded == 0) rounded = alignment;
  cpu_ptr_ = std::aligned_alloc(alignment, rounded);
  AD_CHECK(cpu_ptr_ != nullptr, "out of memory allocating " << size_ << " bytes");
  std::memset(cpu_ptr_, 0, rounded);
  head_ = HEAD_AT_CPU;
}

const void* SyncedMemory::cpu_data() {
  ToCpu();
  return cpu_ptr_;
}

void* SyncedMemory::mutable_cpu_data() {
  ToCpu();
  head_ = HEAD_AT_CPU;
  return cpu_ptr_;
}

}  // namespace augdrop
