// Checks of the launch emulation itself (tools/cuda_emu/tests/run_tests.sh rewrites and builds this as the
// project's .cu files are): grid-stride loops, block reductions with __syncthreads and warp
// shuffles, and the errors the emulator must report.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cuda_runtime.h>

#define LOOP(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

static int failures = 0;
#define EXPECT(cond, ...)                                   \
  do {                                                      \
    if (!(cond)) {                                          \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);      \
      std::printf(__VA_ARGS__);                             \
      std::printf("\n");                                    \
      ++failures;                                           \
    }                                                       \
  } while (0)

namespace {

__global__ void Fill(int64_t n, float* y) {
  LOOP(i, n) y[i] = float(i) * 0.5f;
}

__device__ float BlockSum(float v) {
  __shared__ float warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x >> 5) ? warp_sums[lane] : 0.f;
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  __syncthreads();
  return v;
}

__global__ void RowSums(int64_t rows, int64_t len, const float* data, float* out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float s = 0.f;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) s += data[r * len + k];
    s = BlockSum(s);
    if (threadIdx.x == 0) out[r] = s;
  }
}

constexpr int kThreads = 512;
__device__ float TreeSum(float v) {
  __shared__ float partial[kThreads];
  partial[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  return partial[0];
}

__global__ void Total(int64_t n, const float* x, float* out) {
  float s = 0.f;
  LOOP(i, n) s += x[i];
  const float t = TreeSum(s);
  if (threadIdx.x == 0) out[blockIdx.x] = t;
}

// __syncthreads reached by half the block only.
__global__ void HalfBarrier(float* y) {
  if (threadIdx.x < 16) {
    __syncthreads();
    y[threadIdx.x] = 1.f;
  }
}

// Two different __syncthreads.
__global__ void SplitBarrier(float* y) {
  if (threadIdx.x & 1) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  y[threadIdx.x] = 1.f;
}

__global__ void ShuffleAll(float* y) {
  y[threadIdx.x] = __shfl_down_sync(0xffffffffu, float(threadIdx.x), 1);
}

__global__ void WritePastEnd(int64_t n, float* y) {
  LOOP(i, n + 1) y[i] = 1.f;
}

__global__ void NoSync(float* y) {
  y[threadIdx.x] = 2.f;
}

__global__ void Race(int64_t n, float* y) {
  LOOP(i, n) y[i] = (i > 0 ? y[i - 1] : 0.f) + 1.f;  // reads a neighbour's write: a race
}

float* DeviceFloats(size_t n) {
  void* p = nullptr;
  cudaMalloc(&p, n * sizeof(float));
  cudaMemset(p, 0, n * sizeof(float));
  return static_cast<float*>(p);
}
std::vector<float> Host(const float* d, size_t n) {
  std::vector<float> h(n);
  cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost);
  return h;
}

}  // namespace

int main() {
  // Grid-stride fill over several grids.
  for (int blocks : {1, 3, 7}) {
    const int64_t n = 1000;
    float* y = DeviceFloats(n);
    Fill<<<blocks, 128>>>(n, y);
    EXPECT(cudaPeekAtLastError() == cudaSuccess, "fill launch");
    const auto h = Host(y, n);
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok = ok && h[i] == float(i) * 0.5f;
    EXPECT(ok, "fill with %d blocks", blocks);
    cudaFree(y);
  }

  // Warp-shuffle block sums against a double sum.
  for (int threads : {32, 64, 256}) {
    for (int64_t len : {1, 31, 100, 1000}) {
      const int64_t rows = 5;
      std::vector<float> h(rows * len);
      for (size_t i = 0; i < h.size(); ++i) h[i] = float((i * 7919) % 97) / 13.f - 3.f;
      float* d = DeviceFloats(h.size());
      cudaMemcpy(d, h.data(), h.size() * 4, cudaMemcpyHostToDevice);
      float* out = DeviceFloats(rows);
      RowSums<<<3, threads>>>(rows, len, d, out);
      EXPECT(cudaGetLastError() == cudaSuccess, "RowSums launch");
      const auto got = Host(out, rows);
      for (int64_t r = 0; r < rows; ++r) {
        double ref = 0;
        for (int64_t k = 0; k < len; ++k) ref += h[r * len + k];
        EXPECT(std::fabs(got[r] - ref) <= 1e-4 * (1 + std::fabs(ref)), "RowSums threads %d len %lld row %lld: %g vs %g",
               threads, (long long)len, (long long)r, got[r], ref);
      }
      cudaFree(d);
      cudaFree(out);
    }
  }

  // Shared-memory tree.
  {
    const int64_t n = 5000;
    std::vector<float> h(n);
    double ref = 0;
    for (int64_t i = 0; i < n; ++i) ref += (h[i] = float(i % 10));
    float* d = DeviceFloats(n);
    cudaMemcpy(d, h.data(), n * 4, cudaMemcpyHostToDevice);
    float* out = DeviceFloats(4);
    Total<<<4, kThreads>>>(n, d, out);
    EXPECT(cudaGetLastError() == cudaSuccess, "Total launch");
    const auto got = Host(out, 4);
    EXPECT(std::fabs(got[0] + got[1] + got[2] + got[3] - ref) < 1e-3, "tree sum");
  }

  float* y = DeviceFloats(64);
  HalfBarrier<<<1, 32>>>(y);
  EXPECT(cudaGetLastError() == cudaErrorLaunchFailure, "a barrier half the block skips");
  SplitBarrier<<<1, 32>>>(y);
  EXPECT(cudaGetLastError() == cudaErrorLaunchFailure, "two different barriers");
  ShuffleAll<<<1, 48>>>(y);
  EXPECT(cudaGetLastError() == cudaErrorLaunchFailure, "full mask in a partial warp");
  ShuffleAll<<<1, 64>>>(y);
  EXPECT(cudaGetLastError() == cudaSuccess, "shuffle in whole warps");
  {
    const auto h = Host(y, 64);
    EXPECT(h[0] == 1.f && h[30] == 31.f && h[31] == 31.f && h[32] == 33.f && h[63] == 63.f,
           "shuffle values %g %g %g %g %g", h[0], h[30], h[31], h[32], h[63]);
  }
  WritePastEnd<<<1, 64>>>(64, y);
  EXPECT(cudaGetLastError() == cudaErrorIllegalAddress, "write one past the end");
  std::vector<float> host_buffer(64);
  NoSync<<<1, 32>>>(host_buffer.data());
  EXPECT(cudaGetLastError() == cudaErrorInvalidValue, "host pointer as a kernel argument");
  NoSync<<<1, 2048>>>(y);
  EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads a block");
  NoSync<<<0, 32>>>(y);
  EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "empty grid");
  float* freed = DeviceFloats(16);
  cudaFree(freed);
  NoSync<<<1, 32>>>(freed);
  EXPECT(cudaGetLastError() != cudaSuccess, "freed pointer as a kernel argument");
  EXPECT(cudaMemcpy(host_buffer.data(), y, 65 * 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
         "memcpy past the end");
  EXPECT(cudaMemcpy(y, host_buffer.data(), 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
         "memcpy with the kind reversed");
  {
    float* r = DeviceFloats(1000);
    Race<<<2, 512>>>(1000, r);
    const auto h = Host(r, 1000);
    std::printf("race probe (order-dependent): y[999] = %g\n", h[999]);
  }
  // Host code reading device memory faults (in a child process).
  if (std::getenv("EMU_PROTECT") == nullptr || std::getenv("EMU_PROTECT")[0] != '0') {
    const pid_t pid = fork();
    if (pid == 0) {
      volatile float v = y[3];
      (void)v;
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "host read of device memory");
  }
  std::printf("%s: %d failures\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
