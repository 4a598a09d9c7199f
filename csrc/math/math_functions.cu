#include "math/math_functions.hpp"

#include <dlfcn.h>

#include <map>
#include <string>

#include "core/cuda_check.hpp"

namespace augdrop {
namespace {

// cuBLAS is opened on first use (dlopen), not linked: loading it and its Lt companion costs
// about 250 MB of resident memory, which a CPU run of a CUDA build should not pay. The search
// follows the module's RUNPATH (the nvidia-cublas wheel beside it, or the build's cuBLAS).
struct Cublas {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasSgemm_v2) sgemm;
  decltype(&cublasSgemmStridedBatched) sgemm_batched;
  decltype(&cublasSgemv_v2) sgemv;
  decltype(&cublasSaxpy_v2) saxpy;
  decltype(&cublasSscal_v2) sscal;
  decltype(&cublasSdot_v2) sdot;
  decltype(&cublasSasum_v2) sasum;
};

template <class F>
void Bind(void* lib, const char* symbol, F* out) {
  void* p = dlsym(lib, symbol);
  AD_CHECK(p != nullptr, "the loaded cuBLAS has no " << symbol);
  *out = reinterpret_cast<F>(p);
}

const Cublas& Api() {
  static const Cublas api = [] {
    const std::string versioned = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* lib = dlopen(versioned.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) lib = dlopen("libcublas.so", RTLD_NOW | RTLD_LOCAL);
    AD_CHECK(lib != nullptr, "GPU mode: cannot load cuBLAS (" << versioned << "): " << dlerror()
                                                              << "; pip install nvidia-cublas");
    Cublas a;
    Bind(lib, "cublasCreate_v2", &a.create);
    Bind(lib, "cublasSgemm_v2", &a.sgemm);
    Bind(lib, "cublasSgemmStridedBatched", &a.sgemm_batched);
    Bind(lib, "cublasSgemv_v2", &a.sgemv);
    Bind(lib, "cublasSaxpy_v2", &a.saxpy);
    Bind(lib, "cublasSscal_v2", &a.sscal);
    Bind(lib, "cublasSdot_v2", &a.sdot);
    Bind(lib, "cublasSasum_v2", &a.sasum);
    return a;
  }();
  return api;
}

// A cuBLAS handle belongs to the device current at its creation: one per device, made on first
// use there, so that a set_device() after the first GEMM does not run on the old device.
cublasHandle_t Handle() {
  static std::map<int, cublasHandle_t> handles;
  int device = 0;
  AD_CUDA_CHECK(cudaGetDevice(&device));
  cublasHandle_t& handle = handles[device];
  if (handle == nullptr) AD_CUBLAS_CHECK(Api().create(&handle));
  return handle;
}

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
  AD_CUBLAS_CHECK(Api().sgemm(Handle(), Op(trans_b), Op(trans_a), AsInt(N), AsInt(M),
                              AsInt(K), &alpha, B, ldb, A, lda, &beta, C, AsInt(N)));
}

void gpu_gemm_batched(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t stride_a, const float* B, int64_t stride_b,
                      float beta, float* C, int64_t stride_c, int64_t batch) {
  const int lda = AsInt(trans_a == Trans::No ? K : M);
  const int ldb = AsInt(trans_b == Trans::No ? N : K);
  AD_CUBLAS_CHECK(Api().sgemm_batched(Handle(), Op(trans_b), Op(trans_a), AsInt(N),
                                            AsInt(M), AsInt(K), &alpha, B, ldb, stride_b, A, lda,
                                            stride_a, &beta, C, AsInt(N), stride_c, AsInt(batch)));
}

void gpu_gemv(Trans trans_a, int64_t M, int64_t N, float alpha, const float* A, const float* x,
              float beta, float* y) {
  // Row-major A (M x N) is column-major A^T: flip the transpose.
  const cublasOperation_t op = trans_a == Trans::No ? CUBLAS_OP_T : CUBLAS_OP_N;
  AD_CUBLAS_CHECK(Api().sgemv(Handle(), op, AsInt(N), AsInt(M), &alpha, A, AsInt(N), x, 1,
                              &beta, y, 1));
}

void gpu_axpy(int64_t n, float alpha, const float* x, float* y) {
  AD_CUBLAS_CHECK(Api().saxpy(Handle(), AsInt(n), &alpha, x, 1, y, 1));
}

void gpu_scal(int64_t n, float alpha, float* x) {
  AD_CUBLAS_CHECK(Api().sscal(Handle(), AsInt(n), &alpha, x, 1));
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
  AD_CUBLAS_CHECK(Api().sdot(Handle(), AsInt(n), x, 1, y, 1, &out));
  return out;
}

float gpu_asum(int64_t n, const float* x) {
  float out = 0;
  AD_CUBLAS_CHECK(Api().sasum(Handle(), AsInt(n), x, 1, &out));
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
