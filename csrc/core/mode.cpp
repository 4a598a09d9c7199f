#include "core/mode.hpp"

#include "core/errors.hpp"
#ifdef AUGDROP_WITH_CUDA
#include "core/cuda_device.hpp"
#endif

namespace augdrop {
namespace {

Mode g_mode = Mode::CPU;
int g_device = 0;
GpuMasks g_masks = GpuMasks::DEVICE;

}  // namespace

Mode GetMode() { return g_mode; }

void SetMode(Mode mode) {
  if (mode == Mode::GPU) {
#ifdef AUGDROP_WITH_CUDA
    const int count = CudaDeviceCount();
    AD_CHECK(count > 0, "GPU mode: no usable CUDA device (no GPU, or no driver)");
    AD_CHECK(g_device >= 0 && g_device < count,
             "GPU mode: device " << g_device << " does not exist (" << count << " device(s))");
    CudaUseDevice(g_device);
#else
    AD_FAIL("GPU mode: this build has no CUDA backend (nvcc or cuBLAS was missing when it was "
            "built; see augdrop_caffe.backends())");
#endif
  }
  g_mode = mode;
}

void SetDevice(int device) {
  AD_CHECK(device >= 0, "device id must be >= 0, got " << device);
  g_device = device;
  if (g_mode == Mode::GPU) SetMode(Mode::GPU);
}

int GetDevice() { return g_device; }

GpuMasks GetGpuMasks() { return g_masks; }
void SetGpuMasks(GpuMasks source) { g_masks = source; }

bool CudaCompiled() {
#ifdef AUGDROP_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace augdrop
