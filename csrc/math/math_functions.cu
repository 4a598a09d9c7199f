#include "math/math_functions.hpp"

#include "core/cuda_check.hpp"

namespace augdrop {
namespace {

int AsInt(int64_t v) {
  AD_CHECK(v >= 0 && v <= 0x7fffffff, "matrix dimension " << v << " exceeds cuBLAS's 32 bits");
  return static_cast<int>(v);
}

cublasOperation_t Op(Trans t) { return t == Trans::No ? CUBLAS_OP_N : CUBLAS_OP_T; }

__global__ void SetKernel(int64_t n, float value, float* x) {
  AD_CUDA_KERNEL_LOOP(i, n) x[i] = value;
}
__global__ void AddKernel(int64_t n, const float* a, const float* b, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = a[i] + b[i];
}
__global__ void MulKernel(int64_t n, const float* a, const float* b, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = a[i] * b[i];
}
__global__ void SignKernel(int64_t n, const float* x, float* y) {
  AD_CUDA_KERNEL_LOOP(i, n) y[i] = (0.f < x[i]) - (x[i] < 0.f);
}

}  // namespace

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
void gpu_gemm(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, const float* B, float beta, float* C) {
  const int lda = AsInt(trans_a == Trans::No ? K : M);
  const int ldb = AsInt(trans_b == Trans::No ? N : K);
  AD_CUBLAS_CHECK(cublasSgemm(CublasHandle(), Op(trans_b), Op(trans_a), AsInt(N), AsInt(M),
                              AsInt(K), &alpha, B, ldb, A, lda, &beta, C, AsInt(N)));
}

void gpu_gemm_batched(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t stride_a, const float* B, int64_t stride_b,
                      float beta, float* C, int64_t stride_c, int64_t batch) {
  const int lda = AsInt(trans_a == Trans::No ? K : M);
  const int ldb = AsInt(trans_b == Trans::No ? N : K);
  AD_CUBLAS_CHECK(cublasSgemmStridedBatched(CublasHandle(), Op(trans_b), Op(trans_a), AsInt(N),
                                            AsInt(M), AsInt(K), &alpha, B, ldb, stride_b, A, lda,
                                            stride_a, &beta, C, AsInt(N), stride_c, AsInt(batch)));
}

void gpu_gemv(Trans trans_a, int64_t M, int64_t N, float alpha, const float* A, const float* x,
              float beta, float* y) {
  // Row-major A (M x N) is column-major A^T: flip the transpose.
  const cublasOperation_t op = trans_a == Trans::No ? CUBLAS_OP_T : CUBLAS_OP_N;
  AD_CUBLAS_CHECK(cublasSgemv(CublasHandle(), op, AsInt(N), AsInt(M), &alpha, A, AsInt(N), x, 1,
                              &beta, y, 1));
}

void gpu_axpy(int64_t n, float alpha, const float* x, float* y) {
  AD_CUBLAS_CHECK(cublasSaxpy(CublasHandle(), AsInt(n), &alpha, x, 1, y, 1));
}

void gpu_scal(int64_t n, float alpha, float* x) {
  AD_CUBLAS_CHECK(cublasSscal(CublasHandle(), AsInt(n), &alpha, x, 1));
}

void gpu_axpby(int64_t n, float alpha, const float* x, float beta, float* y) {
  gpu_scal(n, beta, y);
  gpu_axpy(n, alpha, x, y);
}

void gpu_copy(int64_t n, const float* x, float* y) {
  if (x != y) AD_CUDA_CHECK(cudaMemcpy(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice));
}

void gpu_set(int64_t n, float value, float* x) {
  if (value == 0.f) {
    AD_CUDA_CHECK(cudaMemset(x, 0, n * sizeof(float)));
    return;
  }
  SetKernel<<<CudaBlocks(n), kCudaThreads>>>(n, value, x);
  AD_CUDA_POST_KERNEL_CHECK;
}

float gpu_dot(int64_t n, const float* x, const float* y) {
  float out = 0;
  AD_CUBLAS_CHECK(cublasSdot(CublasHandle(), AsInt(n), x, 1, y, 1, &out));
  return out;
}

float gpu_asum(int64_t n, const float* x) {
  float out = 0;
  AD_CUBLAS_CHECK(cublasSasum(CublasHandle(), AsInt(n), x, 1, &out));
  return out;
}

void gpu_add(int64_t n, const float* a, const float* b, float* y) {
  AddKernel<<<CudaBlocks(n), kCudaThreads>>>(n, a, b, y);
  AD_CUDA_POST_KERNEL_CHECK;
}

void gpu_mul(int64_t n, const float* a, const float* b, float* y) {
  MulKernel<<<CudaBlocks(n), kCudaThreads>>>(n, a, b, y);
  AD_CUDA_POST_KERNEL_CHECK;
}

void gpu_sign(int64_t n, const float* x, float* y) {
  SignKernel<<<CudaBlocks(n), kCudaThreads>>>(n, x, y);
  AD_CUDA_POST_KERNEL_CHECK;
}

void gpu_memcpy_to_device(size_t bytes, const void* host, void* device) {
  AD_CUDA_CHECK(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice));
}

}  // namespace augdrop
