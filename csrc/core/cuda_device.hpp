// What the CUDA runtime sees, and the helpers every CUDA source uses. Compiled only when nvcc
// and cuBLAS are found (AUGDROP_WITH_CUDA).
#pragma once

#include <string>

namespace augdrop {

// Number of usable CUDA devices (0 when the driver or a GPU is missing).
int CudaDeviceCount();
// "NAME (compute X.Y, N MiB)" for device i, or why it cannot be queried.
std::string CudaDeviceName(int device);
// Makes `device` current for this process's CUDA calls.
void CudaUseDevice(int device);
// Waits for the current device's queued work.
void CudaSynchronize();

}  // namespace augdrop
