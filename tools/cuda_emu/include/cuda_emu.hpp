// CPU emulation of the subset of CUDA that augdrop's .cu sources use (see emu/README.md).
//
// Device code is compiled as ordinary C++. A launch `K<<<grid, block>>>(args)` is rewritten by
// tools/cuda_emu/rewrite_cu.py into `::cuda_emu::Launch({grid, block}, "K", cooperative, K, args)`, which
// evaluates the arguments once, checks that pointer arguments point into device memory, and then
// runs K once for every (block, thread):
//  - "direct" kernels (no __syncthreads / warp intrinsics reachable): threads run one after the
//    other in a plain loop (order set by EMU_ORDER=forward|reverse|shuffle);
//  - "cooperative" kernels: each block's threads run as fibers (ucontext) under a scheduler, so
//    __syncthreads and __shfl_down_sync behave as barriers over the block / the warp's lanes.
// Device memory lives in a private arena that is PROT_NONE whenever no device operation runs, so a
// host dereference of a device pointer faults; each allocation is right-aligned against a guard
// page, so a kernel reading or writing past the end is reported as cudaErrorIllegalAddress.
#pragma once

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
// Blocks run one at a time, so a function-local static is exactly one block's shared memory.
#define __shared__ static

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
      : x(vx), y(vy), z(vz) {}
};
struct uint4 {
  unsigned int x, y, z, w;
};
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) {
  return uint4{x, y, z, w};
}

namespace cuda_emu {

// The builtins of the thread that runs now (set by the scheduler before it runs a thread).
extern uint3 g_threadIdx;
extern uint3 g_blockIdx;
extern dim3 g_blockDim;
extern dim3 g_gridDim;

void SyncThreads(const char* file, int line);
uint64_t ShflDownBits(unsigned mask, uint64_t bits, unsigned delta, int width, const char* file,
                      int line);
// An emulation error inside device code: the launch fails with this message.
[[noreturn]] void DeviceFail(const char* message);

}  // namespace cuda_emu

#define threadIdx (static_cast<const uint3&>(::cuda_emu::g_threadIdx))
#define blockIdx (static_cast<const uint3&>(::cuda_emu::g_blockIdx))
#define blockDim (static_cast<const dim3&>(::cuda_emu::g_blockDim))
#define gridDim (static_cast<const dim3&>(::cuda_emu::g_gridDim))
constexpr int warpSize = 32;

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  __asm__ __volatile__("" ::: "memory");
  ::cuda_emu::SyncThreads(file, line);
  __asm__ __volatile__("" ::: "memory");
}

template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize,
                          const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffle of this type");
  uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  __asm__ __volatile__("" ::: "memory");
  bits = ::cuda_emu::ShflDownBits(mask, bits, delta, width, file, line);
  __asm__ __volatile__("" ::: "memory");
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return static_cast<unsigned int>((static_cast<unsigned long long>(a) * b) >> 32);
}
// Round-to-nearest product that is never contracted into an FMA (the asm hides it).
inline float __fmul_rn(float a, float b) {
  float r = a * b;
  __asm__("" : "+x"(r));
  return r;
}
inline float __fadd_rn(float a, float b) {
  float r = a + b;
  __asm__("" : "+x"(r));
  return r;
}

// CUDA's min/max overloads (same-type arguments only: mixed types fail to compile here).
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
inline T min(T a, T b) {
  return a < b ? a : b;
}
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
inline T max(T a, T b) {
  return a > b ? a : b;
}

namespace cuda_emu {

struct Config {
  dim3 grid, block;
  template <class G, class B>
  Config(G g, B b, size_t shared_bytes = 0, void* stream = nullptr)
      : grid(ToDim3(g)), block(ToDim3(b)) {
    (void)shared_bytes;
    (void)stream;
  }

 private:
  template <class T>
  static dim3 ToDim3(T v) {
    if constexpr (std::is_same<T, dim3>::value) {
      return v;
    } else {
      // As CUDA's implicit conversion to unsigned: a negative or too large count becomes a
      // huge one, which the launch then rejects as an invalid configuration.
      const long long wide = static_cast<long long>(v);
      return dim3(wide < 0 || wide > 0xffffffffLL ? 0xffffffffu : static_cast<unsigned>(wide));
    }
  }
};

using ThreadFn = void (*)(void* ctx);

// Validates the configuration and runs fn(ctx) for every thread; errors go to the last error.
void RunKernel(const Config& cfg, const char* name, bool cooperative, ThreadFn fn, void* ctx);
// Records a launch error when p is neither null nor inside a live device allocation.
bool CheckKernelPointer(const char* kernel, int index, const void* p);

template <class T>
bool CheckArg(const char* kernel, int index, const T& v) {
  if constexpr (std::is_pointer<T>::value) {
    return CheckKernelPointer(kernel, index, static_cast<const void*>(v));
  } else {
    return true;
  }
}

template <class... P>
struct KernelCall {
  void (*kernel)(P...);
  std::tuple<std::decay_t<P>...>* params;
  static void Run(void* ctx) {
    auto* self = static_cast<KernelCall*>(ctx);
    // Every thread gets its own copy of the parameters, as on the device.
    std::apply(self->kernel, *self->params);
  }
};

template <class... P, class... A>
void Launch(const Config& cfg, const char* name, bool cooperative, void (*kernel)(P...),
            A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong argument count");
  std::tuple<std::decay_t<P>...> params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  bool ok = true;
  int index = 0;
  std::apply([&](const auto&... p) { ((ok = CheckArg(name, index++, p) && ok), ...); }, params);
  if (!ok) return;
  KernelCall<P...> call{kernel, &params};
  RunKernel(cfg, name, cooperative, &KernelCall<P...>::Run, &call);
}

}  // namespace cuda_emu
