// Where the layers and the solver run: Caffe's Caffe::mode() / Caffe::SetDevice(), one
// setting for the process (augdrop_caffe.set_mode_gpu(), solver_mode: GPU, --device cuda).
#pragma once

namespace augdrop {

enum class Mode { CPU, GPU };

Mode GetMode();
// GPU needs a build with the CUDA backend and a usable device; the error says which is missing.
void SetMode(Mode mode);
// The CUDA device the GPU mode uses (default 0); checked when GPU mode is set.
void SetDevice(int device);
int GetDevice();
// Where the GPU mode's dropout masks come from:
//  DEVICE: drawn on the device by a counter-based generator (Philox4x32-10) keyed by two
//          words of the Caffe stream per mask: fast, reproducible for a seed, but not the CPU
//          path's masks.
//  CAFFE_STREAM: drawn on the host from the Caffe stream exactly as the CPU path draws them,
//          then copied over: the same masks as a CPU run of the same seed (slower).
enum class GpuMasks { DEVICE, CAFFE_STREAM };
GpuMasks GetGpuMasks();
void SetGpuMasks(GpuMasks source);

// Whether this build has the CUDA backend (nvcc and cuBLAS were found when it was built).
bool CudaCompiled();

}  // namespace augdrop
