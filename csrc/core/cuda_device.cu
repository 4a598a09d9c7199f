#include "core/cuda_device.hpp"

#include <cuda_runtime.h>

#include "core/cuda_check.hpp"

namespace augdrop {

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error: no driver or no device is not a failure
    return 0;
  }
  return count;
}

std::string CudaDeviceName(int device) {
  cudaDeviceProp prop;
  const cudaError_t err = cudaGetDeviceProperties(&prop, device);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  return std::string(prop.name) + " (compute " + std::to_string(prop.major) + "." +
         std::to_string(prop.minor) + ", " + std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

void CudaUseDevice(int device) { AD_CUDA_CHECK(cudaSetDevice(device)); }

void CudaSynchronize() { AD_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace augdrop
