// The few BLAS-like primitives the layers use, with Caffe's argument order
// (include/caffe/util/math_functions.hpp). Row-major; 64-bit counts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace augdrop {

enum class Trans { No, Yes };

// C = alpha * op(A) * op(B) + beta * C, op(A): (M, K), op(B): (K, N), C: (M, N).
void cpu_gemm(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, const float* B, float beta, float* C);
// The same on sub-matrices: explicit leading dimensions (row strides) of A, B and C.
void cpu_gemm_ld(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc);
// y = alpha * op(A) * x + beta * y, A: (M, N).
void cpu_gemv(Trans trans_a, int64_t M, int64_t N, float alpha, const float* A, const float* x,
              float beta, float* y);
void cpu_axpy(int64_t n, float alpha, const float* x, float* y);           // y += alpha x
void cpu_axpby(int64_t n, float alpha, const float* x, float beta, float* y);  // y = ax + by
void cpu_scal(int64_t n, float alpha, float* x);
void cpu_copy(int64_t n, const float* x, float* y);
void cpu_set(int64_t n, float value, float* x);
float cpu_dot(int64_t n, const float* x, const float* y);
float cpu_asum(int64_t n, const float* x);
// out[r] = alpha * (a[r, 0] + a[r, 1] + ... + a[r, len-1]) for rows r of the (rows, len) matrix
// a, and out[r] = sum_k a[r, k] * b[r, k]: each row added in index order from 0, as the plain
// loop `s += a[k]` (`s += a[k] * b[k]`) adds it, so the bits are that loop's. Faster than that
// loop: one row's chain of dependent adds waits on the add latency, so rows go eight at a time
// (eight independent chains) and row blocks over threads (the same bits on any thread count).
void cpu_row_sums(int64_t rows, int64_t len, const float* a, float alpha, float* out);
void cpu_row_dots(int64_t rows, int64_t len, const float* a, const float* b, float* out);
// Both in one pass: sums[r] = cpu_row_sums' of a (alpha 1), dots[r] = cpu_row_dots' of a, b.
void cpu_row_sums_and_dots(int64_t rows, int64_t len, const float* a, const float* b,
                           float* sums, float* dots);

#ifdef AUGDROP_WITH_CUDA
// The same on device memory (math_functions.cu; cuBLAS for the BLAS ones, as Caffe's
// math_functions.cu), plus the elementwise helpers the layers' CUDA code shares.
void gpu_gemm(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, const float* B, float beta, float* C);
// batch GEMMs, matrix i at A + i * stride_a, B + i * stride_b, C + i * stride_c.
void gpu_gemm_batched(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t stride_a, const float* B, int64_t stride_b,
                      float beta, float* C, int64_t stride_c, int64_t batch);
void gpu_gemv(Trans trans_a, int64_t M, int64_t N, float alpha, const float* A, const float* x,
              float beta, float* y);
void gpu_axpy(int64_t n, float alpha, const float* x, float* y);
void gpu_axpby(int64_t n, float alpha, const float* x, float beta, float* y);
void gpu_scal(int64_t n, float alpha, float* x);
void gpu_copy(int64_t n, const float* x, float* y);
void gpu_set(int64_t n, float value, float* x);
float gpu_dot(int64_t n, const float* x, const float* y);
float gpu_asum(int64_t n, const float* x);
void gpu_add(int64_t n, const float* a, const float* b, float* y);  // y = a + b
void gpu_mul(int64_t n, const float* a, const float* b, float* y);  // y = a * b
void gpu_sign(int64_t n, const float* x, float* y);                 // y = sign(x)
// Host <-> device copies outside SyncedMemory (masks made on the host).
void gpu_memcpy_to_device(size_t bytes, const void* host, void* device);
#endif

// The BLAS library's own thread count (OpenBLAS keeps its own pool); the core keeps it at 1
// and threads across images instead (core/parallel.hpp).
void set_blas_threads(int n);
int blas_threads();

}  // namespace augdrop
