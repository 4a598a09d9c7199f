#include "core/synced_memory.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/errors.hpp"
#ifdef AUGDROP_WITH_CUDA
#include "core/cuda_check.hpp"
#endif

namespace augdrop {

SyncedMemory::SyncedMemory(size_t size_bytes) : size_(size_bytes) {}

SyncedMemory::~SyncedMemory() {
  std::free(cpu_ptr_);
#ifdef AUGDROP_WITH_CUDA
  if (gpu_ptr_) cudaFree(gpu_ptr_);  // no throwing from a destructor
#endif
}

void SyncedMemory::ToCpu() {
  if (head_ == HEAD_AT_CPU || head_ == SYNCED) return;
  if (cpu_ptr_ == nullptr) {
    const size_t alignment = 64;
    size_t rounded = (size_ + alignment - 1) / alignment * alignment;
    if (rounded == 0) rounded = alignment;
    cpu_ptr_ = std::aligned_alloc(alignment, rounded);
    AD_CHECK(cpu_ptr_ != nullptr, "out of memory allocating " << size_ << " bytes");
    std::memset(cpu_ptr_, 0, rounded);
  }
  if (head_ == UNINITIALIZED) {
    head_ = HEAD_AT_CPU;
    return;
  }
#ifdef AUGDROP_WITH_CUDA
  AD_CUDA_CHECK(cudaMemcpy(cpu_ptr_, gpu_ptr_, size_, cudaMemcpyDeviceToHost));
#endif
  head_ = SYNCED;
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

void SyncedMemory::ToGpu() {
#ifdef AUGDROP_WITH_CUDA
  if (head_ == HEAD_AT_GPU || head_ == SYNCED) return;
  if (gpu_ptr_ == nullptr) {
    AD_CUDA_CHECK(cudaMalloc(&gpu_ptr_, size_ > 0 ? size_ : 1));
    AD_CUDA_CHECK(cudaMemset(gpu_ptr_, 0, size_ > 0 ? size_ : 1));
  }
  if (head_ == UNINITIALIZED) {
    head_ = HEAD_AT_GPU;
    return;
  }
  AD_CUDA_CHECK(cudaMemcpy(gpu_ptr_, cpu_ptr_, size_, cudaMemcpyHostToDevice));
  head_ = SYNCED;
#else
  AD_FAIL("device memory asked for, but this build has no CUDA backend");
#endif
}

const void* SyncedMemory::gpu_data() {
  ToGpu();
  return gpu_ptr_;
}

void* SyncedMemory::mutable_gpu_data() {
  ToGpu();
  head_ = HEAD_AT_GPU;
  return gpu_ptr_;
}

}  // namespace augdrop
