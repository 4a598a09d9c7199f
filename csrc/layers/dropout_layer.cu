// Dropout on the GPU: the formulas of dropout_layer.cpp, with masks from DrawKeepMaskGpu.
// Caffe's own GPU dropout draws cuRAND integers; here the masks are either counter-based
// (Philox4x32-10, Salmon et al., SC'11), keyed by words of the Caffe stream, or the CPU
// path's own masks (core/mode.hpp, GpuMasks).
#include "core/cuda_check.hpp"
#include "core/mode.hpp"
#include "core/rng.hpp"
#include "layers/dropout_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// Philox4x32-10: 4 words of output for a 128-bit counter and a 64-bit key.
struct Philox {
  uint32_t key0, key1;
  __device__ uint4 operator()(uint4 ctr) const {
    uint32_t k0 = key0, k1 = key1;
    for (int round = 0; round < 10; ++round) {
      const uint32_t hi0 = __umulhi(0xD2511F53u, ctr.x), lo0 = 0xD2511F53u * ctr.x;
      const uint32_t hi1 = __umulhi(0xCD9E8D57u, ctr.z), lo1 = 0xCD9E8D57u * ctr.z;
      ctr = make_uint4(hi1 ^ ctr.y ^ k0, lo1, hi0 ^ ctr.w ^ k1, lo0);
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    return ctr;
  }
};

// keep[i] = 1 with probability keep_probability: word i of the stream, as a fraction of 2^32,
// below it. Each thread makes four words from counter (i / 4, 0, 0, 0).
__global__ void PhiloxKeepMask(int64_t n, Philox philox, double keep_probability,
                               uint32_t* keep) {
  const uint64_t threshold = static_cast<uint64_t>(keep_probability * 4294967296.0);
  AD_CUDA_KERNEL_LOOP(j, (n + 3) / 4) {
    const uint4 w = philox(make_uint4(static_cast<uint32_t>(j), static_cast<uint32_t>(j >> 32), 0, 0));
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
    for (int k = 0; k < 4 && 4 * j + k < n; ++k) keep[4 * j + k] = words[k] < threshold ? 1u : 0u;
  }
}

__global__ void ApplyMask(int64_t n, const float* x, const uint32_t* keep, float scale,
                          float* y) {
  // x * m * scale in that order, as the CPU path multiplies.
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = x[i] * float(keep[i]) * scale;
}

}  // namespace

void DrawKeepMaskGpu(int64_t count, float ratio, SyncedBuffer<uint32_t>* keep) {
  keep->Resize(count);
  if (GetGpuMasks() == GpuMasks::CAFFE_STREAM) {
    DrawKeepMask(count, ratio, keep->mutable_cpu_data());
    keep->gpu_data();  // copied over here, not inside a later kernel's argument list
    return;
  }
  const Philox philox{caffe_rng_rand(), caffe_rng_rand()};
  PhiloxKeepMask<<<CudaBlocks((count + 3) / 4), kCudaThreads>>>(count, philox, 1. - ratio,
                                                                keep->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void ApplyKeepMaskGpu(int64_t count, const float* x, const SyncedBuffer<uint32_t>& keep,
                      float scale, float* y) {
  ApplyMask<<<CudaBlocks(count), kCudaThreads>>>(count, x, keep.gpu_data(), scale, y);
  AD_CUDA_POST_KERNEL_CHECK;
}

void DropoutLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const int64_t n = bottom[0]->count();
  if (phase_ != Phase::TRAIN) {
    gpu_copy(n, bottom[0]->gpu_data(), top[0]->mutable_gpu_data());
    return;
  }
  DrawKeepMaskGpu(n, threshold_, &rand_vec_);
  ApplyKeepMaskGpu(n, bottom[0]->gpu_data(), rand_vec_, scale_, top[0]->mutable_gpu_data());
}

void DropoutLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                const BlobVec& bottom) {
  if (!propagate_down[0]) return;
  const int64_t n = bottom[0]->count();
  if (phase_ != Phase::TRAIN) {
    gpu_copy(n, top[0]->gpu_diff(), bottom[0]->mutable_gpu_diff());
    return;
  }
  ApplyKeepMaskGpu(n, top[0]->gpu_diff(), rand_vec_, scale_, bottom[0]->mutable_gpu_diff());
}

}  // namespace augdrop
