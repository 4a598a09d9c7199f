// Embed on the GPU (Caffe's embed_layer.cu): the same formulas as embed_layer.cpp. Caffe adds
// the weight gradient with atomics, in no fixed order; here a thread owns a column d of W and
// adds the rows in m order, so the result is the host's, bit for bit.
#include "core/cuda_check.hpp"
#include "layers/embed_layer.hpp"

namespace augdrop {
namespace {

// y[m, d] = W[x_m, d] (+ b[d]); y: (M, N).
__global__ void EmbedForward(int64_t n, int64_t N, const float* x, const float* w,
                             const float* b, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) {
    const int64_t m = i / N, d = i % N;
    const float v = w[int64_t(x[m]) * N + d];
    y[i] = b ? v + b[d] : v;
  }
}

// dW[x_m, d] += dy[m, d] for m in order; one thread per column d.
__global__ void EmbedWeightBackward(int64_t N, int64_t M, const float* x, const float* dy,
                                    float* dw) {
  AD_CUDA_KERNEL_LOOP(d, N) {
    for (int64_t m = 0; m < M; ++m) dw[int64_t(x[m]) * N + d] += dy[m * N + d];
  }
}

// db[d] += sum_m dy[m, d], m in order.
__global__ void EmbedBiasBackward(int64_t N, int64_t M, const float* dy, float* db) {
  AD_CUDA_KERNEL_LOOP(d, N) {
    float s = 0.f;
    for (int64_t m = 0; m < M; ++m) s += dy[m * N + d];
    db[d] += s;
  }
}

}  // namespace

void EmbedLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  CheckIndices(*bottom[0]);
  const int64_t n = top[0]->count();
  if (n == 0) return;
  EmbedForward<<<CudaBlocks(n), kCudaThreads>>>(
      n, N_, bottom[0]->gpu_data(), blobs_[0]->gpu_data(),
      bias_term_ ? blobs_[1]->gpu_data() : nullptr, top[0]->mutable_gpu_data());
  AD_CUDA_POST_KERNEL_CHECK;
}

void EmbedLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                              const BlobVec& bottom) {
  AD_CHECK(!propagate_down[0], "Can't backpropagate to EmbedLayer input.");
  if (M_ == 0) return;
  const float* dy = top[0]->gpu_diff();
  if (param_propagate_down(0)) {
    EmbedWeightBackward<<<CudaBlocks(N_), kCudaThreads>>>(N_, M_, bottom[0]->gpu_data(), dy,
                                                          blobs_[0]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
  if (bias_term_ && param_propagate_down(1)) {
    EmbedBiasBackward<<<CudaBlocks(N_), kCudaThreads>>>(N_, M_, dy, blobs_[1]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
}

}  // namespace augdrop
