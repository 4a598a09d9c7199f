// InnerProduct on the GPU (Caffe's inner_product_layer.cu): the same GEMMs as
// inner_product_layer.cpp, each over the whole batch; the bias is added and its gradient summed
// by kernels, in the CPU code's order (Caffe uses a GEMM and a GEMV with a ones vector).
#include "core/cuda_check.hpp"
#include "layers/inner_product_layer.hpp"
#include "math/math_functions.hpp"

namespace augdrop {
namespace {

// y (M, N) += b (N,) on every row.
__global__ void AddBias(int64_t n, const float* b, int64_t outputs, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] += b[i % outputs];
}

// db (N,) += the column sums of dy (M, N), one thread per column, rows in order.
__global__ void BiasBackward(int64_t outputs, int64_t rows, const float* dy, float* db) {
  AD_CUDA_KERNEL_LOOP(n, outputs) {
    float s = db[n];
    for (int64_t m = 0; m < rows; ++m) s += dy[m * outputs + n];
    db[n] = s;
  }
}

}  // namespace

void InnerProductLayer::Forward_gpu(const BlobVec& bottom, const BlobVec& top) {
  const float* x = bottom[0]->gpu_data();   // (M, K)
  const float* w = blobs_[0]->gpu_data();   // (N, K) or (K, N)
  float* y = top[0]->mutable_gpu_data();    // (M, N)
  gpu_gemm(Trans::No, transpose_ ? Trans::No : Trans::Yes, M_, N_, K_, 1.f, x, w, 0.f, y);
  if (bias_term_) {
    const int64_t n = M_ * N_;
    AddBias<<<CudaBlocks(n), kCudaThreads>>>(n, blobs_[1]->gpu_data(), N_, y);
    AD_CUDA_POST_KERNEL_CHECK;
  }
}

void InnerProductLayer::Backward_gpu(const BlobVec& top, const std::vector<bool>& propagate_down,
                                     const BlobVec& bottom) {
  const float* dy = top[0]->gpu_diff();     // (M, N)
  if (param_propagate_down(0)) {
    const float* x = bottom[0]->gpu_data();  // (M, K)
    float* dw = blobs_[0]->mutable_gpu_diff();
    if (transpose_)  // dW (K, N) += x^T (K, M) dy (M, N)
      gpu_gemm(Trans::Yes, Trans::No, K_, N_, M_, 1.f, x, dy, 1.f, dw);
    else  // dW (N, K) += dy^T (N, M) x (M, K)
      gpu_gemm(Trans::Yes, Trans::No, N_, K_, M_, 1.f, dy, x, 1.f, dw);
  }
  if (bias_term_ && param_propagate_down(1)) {
    BiasBackward<<<CudaBlocks(N_), kCudaThreads>>>(N_, M_, dy, blobs_[1]->mutable_gpu_diff());
    AD_CUDA_POST_KERNEL_CHECK;
  }
  if (propagate_down[0]) {
    // dx (M, K) = dy (M, N) * op(W) (N, K)
    gpu_gemm(Trans::No, transpose_ ? Trans::Yes : Trans::No, M_, K_, N_, 1.f, dy,
             blobs_[0]->gpu_data(), 0.f, bottom[0]->mutable_gpu_diff());
  }
}

}  // namespace augdrop
