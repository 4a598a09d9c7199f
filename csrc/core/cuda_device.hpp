// What the CUDA runtime sees. Compiled only when nvcc is found (AUGDROP_WITH_CUDA).
#pragma once

#include <string>

namespace augdrop {

// Number of usable CUDA devices (0 when the driver or a GPU is missing).
int CudaDeviceCount();
// "NAME (compute X.Y, N MiB)" for device i, or why it cannot be queried.
std::string CudaDeviceName(int device);

}  // namespace augdrop
