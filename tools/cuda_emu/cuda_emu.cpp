// CPU emulation of the CUDA runtime, kernel launches and cuBLAS subset used by augdrop.
// See emu/README.md for what it covers and what it cannot.
#include "cuda_emu.hpp"

#include <execinfo.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"

namespace cuda_emu {

uint3 g_threadIdx{0, 0, 0};
uint3 g_blockIdx{0, 0, 0};
dim3 g_blockDim;
dim3 g_gridDim;

namespace {

// ---- settings (environment, read once) ----------------------------------------------------

enum class Order { FORWARD, REVERSE, SHUFFLE };
struct Settings {
  Order order = Order::FORWARD;
  bool strict = true;    // divergent or partial __syncthreads is an error
  bool protect = true;   // device memory PROT_NONE outside device operations, guard pages
  bool verbose = false;  // one line per launch on stderr
  std::string stats;     // append per-kernel launch counts to this file at exit
};

const Settings& Env() {
  // Leaked on purpose: WriteStats runs at exit, after static destructors may have run.
  static const Settings& s = *[] {
    auto* out_ptr = new Settings;
    Settings& out = *out_ptr;
    if (const char* v = std::getenv("EMU_ORDER")) {
      const std::string o = v;
      if (o == "reverse") out.order = Order::REVERSE;
      else if (o == "shuffle") out.order = Order::SHUFFLE;
    }
    if (const char* v = std::getenv("EMU_STRICT")) out.strict = std::string(v) != "0";
    if (const char* v = std::getenv("EMU_PROTECT")) out.protect = std::string(v) != "0";
    if (const char* v = std::getenv("EMU_VERBOSE")) out.verbose = std::string(v) != "0";
    if (const char* v = std::getenv("EMU_STATS")) out.stats = v;
    return out_ptr;
  }();
  return s;
}

std::string Format(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

// ---- errors -------------------------------------------------------------------------------

cudaError_t g_last_error = cudaSuccess;
std::string g_last_message;

const char* BaseName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t SetError(cudaError_t e, const std::string& detail) {
  g_last_error = e;
  g_last_message = std::string(BaseName(e)) + " [cuda-emu: " + detail + "]";
  std::fprintf(stderr, "[cuda-emu] ERROR %s\n", g_last_message.c_str());
  return e;
}

struct EmuError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- statistics ---------------------------------------------------------------------------

struct KernelStats {
  long long launches = 0, threads = 0;
  bool cooperative = false;
};
std::map<std::string, KernelStats>& Stats() {
  static auto* m = new std::map<std::string, KernelStats>;
  return *m;
}
void WriteStats() {
  const std::string& path = Env().stats;
  if (path.empty()) return;
  if (FILE* f = std::fopen(path.c_str(), "a")) {
    for (const auto& [name, s] : Stats())
      std::fprintf(f, "%s\t%lld\t%lld\t%s\n", name.c_str(), s.launches, s.threads,
                   s.cooperative ? "fibers" : "direct");
    std::fclose(f);
  }
}

// ---- device memory ------------------------------------------------------------------------
// One reserved range; every allocation gets fresh pages (never reused), its bytes end exactly
// at a page boundary (rounded to 4 bytes) and a PROT_NONE guard page follows.

constexpr size_t kPage = 4096;
constexpr size_t kArenaBytes = size_t(1) << 40;

struct Alloc {
  uintptr_t region = 0;      // first page
  size_t data_bytes = 0;     // pages holding the data
  uintptr_t ptr = 0;         // what cudaMalloc returned
  size_t size = 0;           // bytes asked for
  unsigned long long id = 0; // allocation number
  bool open = false;         // RW for the current device operation
};

uintptr_t g_base = 0, g_bump = 0, g_end = 0;
std::map<uintptr_t, Alloc> g_live;  // by region
std::map<uintptr_t, Alloc> g_dead;  // freed, by region (for messages)
std::vector<Alloc*> g_opened;
unsigned long long g_next_id = 1;

// Device-operation state, read by the fault handler.
volatile bool g_in_op = false;
const char* volatile g_op_name = "";
sigjmp_buf* volatile g_guard = nullptr;
char g_fault_message[1024];
struct sigaction g_old_segv;
bool g_handler_installed = false;
bool g_launching = false;  // inside a kernel (for messages)

const Alloc* FindIn(const std::map<uintptr_t, Alloc>& m, uintptr_t a) {
  auto it = m.upper_bound(a);
  if (it == m.begin()) return nullptr;
  --it;
  const Alloc& al = it->second;
  return a < al.region + al.data_bytes + kPage ? &al : nullptr;
}
Alloc* FindLive(uintptr_t a) { return const_cast<Alloc*>(FindIn(g_live, a)); }

void DescribeAddress(uintptr_t a, char* out, size_t n) {
  if (const Alloc* al = FindIn(g_live, a)) {
    if (a >= al->region + al->data_bytes)
      std::snprintf(out, n, "%zu bytes past the end of device allocation #%llu (%zu bytes at %p)",
                    size_t(a - (al->ptr + al->size)), al->id, al->size, (void*)al->ptr);
    else if (a < al->ptr)
      std::snprintf(out, n, "%zu bytes before device allocation #%llu (%zu bytes at %p)",
                    size_t(al->ptr - a), al->id, al->size, (void*)al->ptr);
    else
      std::snprintf(out, n, "byte %zu of device allocation #%llu (%zu bytes at %p)",
                    size_t(a - al->ptr), al->id, al->size, (void*)al->ptr);
  } else if (const Alloc* dead = FindIn(g_dead, a)) {
    std::snprintf(out, n, "freed device allocation #%llu (%zu bytes at %p): use after cudaFree",
                  dead->id, dead->size, (void*)dead->ptr);
  } else if (a >= g_base && a < g_end) {
    std::snprintf(out, n, "unallocated device memory");
  } else {
    std::snprintf(out, n, "not device memory (a host or wild pointer%s)",
                  a < 65536 ? ", near null" : "");
  }
}

void OnSegv(int sig, siginfo_t* info, void* uctx) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(info->si_addr);
  const bool in_arena = a >= g_base && a < g_end;
  if (g_in_op) {
    if (in_arena) {
      Alloc* al = FindLive(a);
      if (al && !al->open && a >= al->ptr && a < al->region + al->data_bytes) {
        mprotect(reinterpret_cast<void*>(al->region), al->data_bytes, PROT_READ | PROT_WRITE);
        al->open = true;
        g_opened.push_back(al);
        return;  // the access runs again, now allowed
      }
    }
    if (g_guard) {
      char where[512];
      DescribeAddress(a, where, sizeof(where));
      if (g_launching)
        std::snprintf(g_fault_message, sizeof(g_fault_message),
                      "%s: block (%u,%u,%u) thread (%u,%u,%u) touched %p: %s", g_op_name,
                      g_blockIdx.x, g_blockIdx.y, g_blockIdx.z, g_threadIdx.x, g_threadIdx.y,
                      g_threadIdx.z, (void*)a, where);
      else
        std::snprintf(g_fault_message, sizeof(g_fault_message), "%s touched %p: %s", g_op_name,
                      (void*)a, where);
      siglongjmp(*g_guard, 1);
    }
  } else if (in_arena) {
    char where[512], line[900];
    DescribeAddress(a, where, sizeof(where));
    const int len = std::snprintf(line, sizeof(line),
                                  "\n[cuda-emu] FATAL: host code dereferenced device memory at "
                                  "%p (%s). Host backtrace:\n",
                                  (void*)a, where);
    if (write(2, line, size_t(len)) < 0) {
    }
    void* frames[64];
    backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
  }
  // Not ours: hand the fault to the previous handler (the access faults again).
  sigaction(SIGSEGV, &g_old_segv, nullptr);
  (void)sig;
  (void)uctx;
}

void EnsureInit() {
  if (g_base) return;
  void* p = mmap(nullptr, kArenaBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "[cuda-emu] cannot reserve the device arena\n");
    std::abort();
  }
  g_base = g_bump = reinterpret_cast<uintptr_t>(p);
  g_end = g_base + kArenaBytes;
  g_opened.reserve(1 << 16);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = OnSegv;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_old_segv);
  g_handler_installed = true;
  std::atexit(WriteStats);
}

// Brackets a device operation (a kernel, a memcpy or memset, a cuBLAS call): device memory is
// opened on first touch and closed again at the end.
struct DeviceOp {
  explicit DeviceOp(const char* name) {
    EnsureInit();
    g_op_name = name;
    g_in_op = true;
  }
  ~DeviceOp() {
    g_in_op = false;
    if (Env().protect)
      for (Alloc* al : g_opened) {
        mprotect(reinterpret_cast<void*>(al->region), al->data_bytes, PROT_NONE);
        al->open = false;
      }
    g_opened.clear();
  }
};

// Runs fn(ctx); false (with g_fault_message) if it touched memory it may not.
bool Guarded(void (*fn)(void*), void* ctx) {
  sigjmp_buf env;
  g_guard = &env;
  if (sigsetjmp(env, 1) == 0) {
    try {
      fn(ctx);
    } catch (...) {
      g_guard = nullptr;
      throw;
    }
    g_guard = nullptr;
    return true;
  }
  g_guard = nullptr;
  return false;
}

template <class F>
bool GuardedCall(F& f) {
  return Guarded([](void* c) { (*static_cast<F*>(c))(); }, &f);
}

bool InArena(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return a >= g_base && a < g_end;
}

// Whether [p, p + bytes) lies inside one live allocation; why not in *why.
bool DeviceRange(const void* p, size_t bytes, std::string* why) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const Alloc* al = FindIn(g_live, a);
  if (!al || a < al->ptr || a > al->ptr + al->size) {
    char where[512];
    DescribeAddress(a, where, sizeof(where));
    *why = Format("%p is not in a live device allocation (%s)", p, where);
    return false;
  }
  if (bytes > al->ptr + al->size - a) {
    *why = Format("%zu bytes from %p run %zu bytes past the end of device allocation #%llu "
                  "(%zu bytes)",
                  bytes, p, size_t(a + bytes - (al->ptr + al->size)), al->id, al->size);
    return false;
  }
  return true;
}

// ---- kernel execution ---------------------------------------------------------------------

struct LaunchState {
  const char* name;
  ThreadFn fn;
  void* ctx;
  dim3 grid, block;
  long long nblocks, nthreads;
  std::mt19937_64 rng{12345};
};
LaunchState* g_launch = nullptr;

void MakePermutation(long long n, std::vector<long long>* perm, std::mt19937_64& rng) {
  perm->resize(size_t(n));
  for (long long i = 0; i < n; ++i) (*perm)[size_t(i)] = i;
  switch (Env().order) {
    case Order::FORWARD: break;
    case Order::REVERSE: std::reverse(perm->begin(), perm->end()); break;
    case Order::SHUFFLE: std::shuffle(perm->begin(), perm->end(), rng); break;
  }
}

uint3 Unflatten(long long i, const dim3& d) {
  return uint3{unsigned(i % d.x), unsigned(i / d.x % d.y), unsigned(i / (long long)(d.x) / d.y)};
}

std::vector<long long> g_block_perm, g_thread_perm;

void RunDirect(void*) {
  LaunchState& L = *g_launch;
  for (long long kb = 0; kb < L.nblocks; ++kb) {
    g_blockIdx = Unflatten(g_block_perm[size_t(kb)], L.grid);
    if (Env().order == Order::SHUFFLE) MakePermutation(L.nthreads, &g_thread_perm, L.rng);
    for (long long kt = 0; kt < L.nthreads; ++kt) {
      g_threadIdx = Unflatten(g_thread_perm[size_t(kt)], L.block);
      L.fn(L.ctx);
    }
  }
}

// Cooperative blocks: one fiber per thread.
enum class FiberState { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };
struct Fiber {
  ucontext_t ctx;
  FiberState state = FiberState::DONE;
  uint3 tid{0, 0, 0};
  const char* file = "";
  int line = 0;
};
struct Warp {
  unsigned arrived = 0, mask = 0;
  const char* file = "";
  int line = 0;
  int tag = 0;
  uint64_t slot[32];
};
constexpr size_t kStackBytes = 256 * 1024;
std::vector<char*> g_stacks;
std::vector<Fiber> g_fibers;
std::vector<Warp> g_warps;
ucontext_t g_scheduler;
int g_current = -1;
bool g_fiber_mode = false;
std::string g_fiber_failure;
int g_barrier_arrived = 0;
const char* g_barrier_file = "";
int g_barrier_line = 0;
std::string g_barrier_mismatch;

void FiberEntry() {
  g_launch->fn(g_launch->ctx);
  g_fibers[size_t(g_current)].state = FiberState::DONE;
  // returns to uc_link (the scheduler)
}

void YieldToScheduler() {
  Fiber& f = g_fibers[size_t(g_current)];
  swapcontext(&f.ctx, &g_scheduler);
}

void Describe(std::string* out) {
  for (size_t i = 0; i < g_fibers.size() && i < size_t(g_launch->nthreads); ++i) {
    const Fiber& f = g_fibers[i];
    const char* s = f.state == FiberState::DONE ? "exited"
                    : f.state == FiberState::WAIT_BLOCK ? "__syncthreads"
                    : f.state == FiberState::WAIT_WARP ? "warp op"
                                                       : "runnable";
    if (i < 40 || f.state != FiberState::DONE)
      *out += Format(" t%zu:%s@%s:%d", i, s, f.file, f.line);
  }
}

void RunCooperativeBlock() {
  LaunchState& L = *g_launch;
  const size_t n = size_t(L.nthreads);
  while (g_stacks.size() < n) {
    void* s = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED) throw EmuError("cannot allocate a fiber stack");
    mprotect(s, kPage, PROT_NONE);  // stack overflow guard
    g_stacks.push_back(static_cast<char*>(s));
  }
  g_fibers.assign(n, Fiber{});
  g_warps.assign((n + 31) / 32, Warp{});
  g_barrier_arrived = 0;
  g_barrier_mismatch.clear();
  for (size_t i = 0; i < n; ++i) {
    Fiber& f = g_fibers[i];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = g_stacks[i];
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &g_scheduler;
    makecontext(&f.ctx, FiberEntry, 0);
    f.state = FiberState::RUNNABLE;
    f.tid = Unflatten((long long)i, L.block);
  }
  if (Env().order == Order::SHUFFLE) MakePermutation(L.nthreads, &g_thread_perm, L.rng);
  size_t alive = n;
  while (alive > 0) {
    bool progressed = false;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = size_t(g_thread_perm[k]);
      Fiber& f = g_fibers[i];
      if (f.state != FiberState::RUNNABLE) continue;
      g_threadIdx = f.tid;
      g_current = int(i);
      swapcontext(&g_scheduler, &f.ctx);
      progressed = true;
      if (!g_fiber_failure.empty()) throw EmuError(g_fiber_failure);
      if (f.state == FiberState::DONE) --alive;
    }
    if (alive == 0) break;
    // __syncthreads: released when every live thread of the block waits at one.
    if (g_barrier_arrived > 0 && size_t(g_barrier_arrived) == alive) {
      if (!g_barrier_mismatch.empty())
        throw EmuError("threads of one block waited at different __syncthreads: " +
                       g_barrier_mismatch);
      if (alive != n && Env().strict)
        throw EmuError(Format("__syncthreads at %s:%d reached by %zu threads while %zu threads "
                              "of the block had exited (undefined behaviour)",
                              g_barrier_file, g_barrier_line, alive, n - alive));
      for (Fiber& f : g_fibers)
        if (f.state == FiberState::WAIT_BLOCK) f.state = FiberState::RUNNABLE;
      g_barrier_arrived = 0;
      progressed = true;
    }
    // Warp barriers (shuffles): released when every lane of the mask has arrived.
    for (size_t w = 0; w < g_warps.size(); ++w) {
      Warp& wp = g_warps[w];
      if (wp.arrived == 0) continue;
      if (wp.arrived == wp.mask) {
        for (size_t l = 0; l < 32 && w * 32 + l < n; ++l)
          if (g_fibers[w * 32 + l].state == FiberState::WAIT_WARP)
            g_fibers[w * 32 + l].state = FiberState::RUNNABLE;
        wp.arrived = 0;
        progressed = true;
      } else {
        for (size_t l = 0; l < 32; ++l)
          if ((wp.mask >> l & 1u) && !(wp.arrived >> l & 1u) &&
              g_fibers[w * 32 + l].state == FiberState::DONE)
            throw EmuError(Format("warp %zu: a shuffle at %s:%d waits for lane %zu, which has "
                                  "exited",
                                  w, wp.file, wp.line, l));
      }
    }
    if (!progressed) {
      std::string state;
      Describe(&state);
      throw EmuError("deadlock: no thread of the block can proceed:" + state);
    }
  }
}

void RunCooperative(void*) {
  LaunchState& L = *g_launch;
  g_fiber_mode = true;
  g_fiber_failure.clear();
  struct Reset {
    ~Reset() { g_fiber_mode = false; }
  } reset;
  for (long long kb = 0; kb < L.nblocks; ++kb) {
    g_blockIdx = Unflatten(g_block_perm[size_t(kb)], L.grid);
    RunCooperativeBlock();
  }
}

[[noreturn]] void FailInFiber(const std::string& message) {
  g_fiber_failure = message;
  YieldToScheduler();
  std::abort();  // never resumed
}

void WarpBarrier(unsigned mask, const char* file, int line, int tag) {
  const int t = g_current;
  const int lane = t & 31, warp = t >> 5;
  Warp& wp = g_warps[size_t(warp)];
  if (wp.arrived == 0) {
    wp.mask = mask;
    wp.file = file;
    wp.line = line;
    wp.tag = tag;
  } else if (wp.mask != mask || wp.line != line || wp.tag != tag ||
             std::strcmp(wp.file, file) != 0) {
    FailInFiber(Format("lanes of warp %d are in different warp operations (%s:%d mask %08x, "
                       "%s:%d mask %08x)",
                       warp, wp.file, wp.line, wp.mask, file, line, mask));
  }
  wp.arrived |= 1u << lane;
  Fiber& f = g_fibers[size_t(t)];
  f.state = FiberState::WAIT_WARP;
  f.file = file;
  f.line = line;
  YieldToScheduler();
}

}  // namespace

void DeviceFail(const char* message) {
  if (g_fiber_mode) FailInFiber(message);
  throw EmuError(message);
}

void SyncThreads(const char* file, int line) {
  if (!g_fiber_mode)
    DeviceFail(Format("__syncthreads (%s:%d) in kernel %s, which the rewriter ran without "
                      "fibers: add it to the cooperative set in tools/cuda_emu/rewrite_cu.py",
                      file, line, g_launch ? g_launch->name : "?")
                   .c_str());
  Fiber& f = g_fibers[size_t(g_current)];
  if (g_barrier_arrived == 0) {
    g_barrier_file = file;
    g_barrier_line = line;
  } else if ((g_barrier_line != line || std::strcmp(g_barrier_file, file) != 0) &&
             g_barrier_mismatch.empty()) {
    g_barrier_mismatch = Format("%s:%d and %s:%d", g_barrier_file, g_barrier_line, file, line);
  }
  ++g_barrier_arrived;
  f.state = FiberState::WAIT_BLOCK;
  f.file = file;
  f.line = line;
  YieldToScheduler();
}

uint64_t ShflDownBits(unsigned mask, uint64_t bits, unsigned delta, int width, const char* file,
                      int line) {
  if (!g_fiber_mode)
    DeviceFail(Format("__shfl_down_sync (%s:%d) in kernel %s, which the rewriter ran without "
                      "fibers",
                      file, line, g_launch ? g_launch->name : "?")
                   .c_str());
  const int t = g_current;
  const int lane = t & 31, warp = t >> 5;
  const long long lanes_here = std::min<long long>(32, g_launch->nthreads - (long long)warp * 32);
  const unsigned existing = lanes_here >= 32 ? 0xffffffffu : ((1u << lanes_here) - 1u);
  if (!(mask >> lane & 1u))
    FailInFiber(Format("%s:%d: lane %d calls __shfl_down_sync with mask %08x, which leaves it "
                       "out", file, line, lane, mask));
  if (mask & ~existing)
    FailInFiber(Format("%s:%d: __shfl_down_sync mask %08x names lanes that do not exist in "
                       "warp %d (block of %lld threads)",
                       file, line, mask, warp, g_launch->nthreads));
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
    FailInFiber(Format("%s:%d: __shfl_down_sync width %d", file, line, width));
  g_warps[size_t(warp)].slot[lane] = bits;
  WarpBarrier(mask, file, line, 1);  // every lane has written its value
  uint64_t out = bits;
  if (int(lane % width) + int(delta) < width) {
    const int src = lane + int(delta);
    if (!(mask >> src & 1u))
      FailInFiber(Format("%s:%d: lane %d reads lane %d, which is not in mask %08x", file, line,
                         lane, src, mask));
    out = g_warps[size_t(warp)].slot[src];
  }
  WarpBarrier(mask, file, line, 2);  // every lane has read before the slots are reused
  return out;
}

bool CheckKernelPointer(const char* kernel, int index, const void* p) {
  EnsureInit();
  if (p == nullptr) return true;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const Alloc* al = FindIn(g_live, a);
  if (al && a >= al->ptr && a <= al->ptr + al->size) return true;
  char where[512];
  DescribeAddress(a, where, sizeof(where));
  SetError(cudaErrorInvalidValue,
           Format("kernel %s argument %d is %p: %s", kernel, index, p, where));
  return false;
}

void RunKernel(const cuda_emu::Config& cfg, const char* name, bool cooperative, ThreadFn fn,
               void* ctx) {
  EnsureInit();
  const dim3 g = cfg.grid, b = cfg.block;
  const long long threads = (long long)b.x * b.y * b.z;
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535 ||
      b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 ||
      threads > 1024) {
    SetError(cudaErrorInvalidConfiguration,
             Format("kernel %s launched with grid (%u,%u,%u) block (%u,%u,%u)", name, g.x, g.y,
                    g.z, b.x, b.y, b.z));
    return;
  }
  LaunchState L;
  L.name = name;
  L.fn = fn;
  L.ctx = ctx;
  L.grid = g;
  L.block = b;
  L.nblocks = (long long)g.x * g.y * g.z;
  L.nthreads = threads;
  KernelStats& st = Stats()[name];
  ++st.launches;
  st.threads += L.nblocks * L.nthreads;
  st.cooperative = cooperative;
  if (Env().verbose)
    std::fprintf(stderr, "[cuda-emu] launch %s<<<%lld, %lld>>>%s\n", name, L.nblocks, L.nthreads,
                 cooperative ? " (fibers)" : "");
  MakePermutation(L.nblocks, &g_block_perm, L.rng);
  MakePermutation(L.nthreads, &g_thread_perm, L.rng);
  g_launch = &L;
  g_gridDim = g;
  g_blockDim = b;
  g_launching = true;
  std::string failure;
  bool faulted = false;
  {
    DeviceOp op(name);
    try {
      faulted = !Guarded(cooperative ? RunCooperative : RunDirect, nullptr);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    g_fiber_mode = false;
  }
  g_launching = false;
  g_launch = nullptr;
  if (faulted) SetError(cudaErrorIllegalAddress, g_fault_message);
  else if (!failure.empty())
    SetError(cudaErrorLaunchFailure, Format("kernel %s: %s", name, failure.c_str()));
}

}  // namespace cuda_emu

// ---- runtime API ----------------------------------------------------------------------------

using namespace cuda_emu;

const char* cudaGetErrorString(cudaError_t error) {
  if (error == g_last_error && error != cudaSuccess) return g_last_message.c_str();
  return BaseName(error);
}
const char* cudaGetErrorName(cudaError_t error) { return BaseName(error); }
cudaError_t cudaGetLastError() {
  const cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return g_last_error; }
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return SetError(cudaErrorInvalidDevice, Format("device %d", device));
  std::memset(prop, 0, sizeof(*prop));
  std::snprintf(prop->name, sizeof(prop->name), "cuda-emu CPU emulator");
  prop->totalGlobalMem = size_t(80) << 30;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  prop->maxThreadsPerBlock = 1024;
  prop->warpSize = 32;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0) return SetError(cudaErrorInvalidDevice, Format("cudaSetDevice(%d)", device));
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  EnsureInit();
  const size_t rounded = (std::max<size_t>(bytes, 1) + 3) / 4 * 4;
  const size_t data = (rounded + kPage - 1) / kPage * kPage;
  if (g_bump + data + kPage > g_end)
    return SetError(cudaErrorMemoryAllocation, Format("arena exhausted (%zu bytes)", bytes));
  Alloc al;
  al.region = g_bump;
  al.data_bytes = data;
  al.ptr = al.region + data - rounded;
  al.size = bytes;
  al.id = g_next_id++;
  g_bump += data + kPage;
  if (!Env().protect)
    mprotect(reinterpret_cast<void*>(al.region), data, PROT_READ | PROT_WRITE);
  g_live[al.region] = al;
  *ptr = reinterpret_cast<void*>(al.ptr);
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  EnsureInit();
  const uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
  Alloc* al = FindLive(a);
  if (!al || al->ptr != a) {
    char where[512];
    DescribeAddress(a, where, sizeof(where));
    return SetError(cudaErrorInvalidValue, Format("cudaFree(%p): %s", ptr, where));
  }
  // Fresh PROT_NONE pages in place: the memory goes back, the addresses stay unused.
  mmap(reinterpret_cast<void*>(al->region), al->data_bytes, PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  Alloc dead = *al;
  g_live.erase(al->region);
  if (g_dead.size() > 100000) g_dead.erase(g_dead.begin());
  g_dead[dead.region] = dead;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  EnsureInit();
  if (kind == cudaMemcpyDefault)
    kind = InArena(src) ? (InArena(dst) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
                        : (InArena(dst) ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  std::string why;
  if (src_dev ? !DeviceRange(src, bytes, &why) : InArena(src))
    return SetError(cudaErrorInvalidValue,
                    Format("cudaMemcpy kind %d: source %s", int(kind),
                           src_dev ? why.c_str() : "is device memory, the kind says host"));
  if (dst_dev ? !DeviceRange(dst, bytes, &why) : InArena(dst))
    return SetError(cudaErrorInvalidValue,
                    Format("cudaMemcpy kind %d: destination %s", int(kind),
                           dst_dev ? why.c_str() : "is device memory, the kind says host"));
  if (bytes == 0) return cudaSuccess;
  DeviceOp op("cudaMemcpy");
  auto body = [&] { std::memmove(dst, src, bytes); };
  if (!GuardedCall(body)) return SetError(cudaErrorIllegalAddress, g_fault_message);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  EnsureInit();
  std::string why;
  if (!DeviceRange(ptr, bytes, &why)) return SetError(cudaErrorInvalidValue, "cudaMemset: " + why);
  if (bytes == 0) return cudaSuccess;
  DeviceOp op("cudaMemset");
  auto body = [&] { std::memset(ptr, value, bytes); };
  if (!GuardedCall(body)) return SetError(cudaErrorIllegalAddress, g_fault_message);
  return cudaSuccess;
}

// ---- cuBLAS ---------------------------------------------------------------------------------

struct cublasContext {
  int magic = 0x5eed;
};

namespace {

cublasStatus_t BlasError(cublasStatus_t s, const std::string& detail) {
  std::fprintf(stderr, "[cuda-emu] cuBLAS ERROR %d: %s\n", int(s), detail.c_str());
  return s;
}

// Elements a strided vector of n entries spans.
size_t VectorSpan(int n, int inc) { return n <= 0 ? 0 : size_t(n - 1) * size_t(std::abs(inc)) + 1; }
// Element i of a BLAS vector (a negative increment walks from the end).
inline size_t At(int i, int n, int inc) {
  return inc > 0 ? size_t(i) * size_t(inc) : size_t(n - 1 - i) * size_t(-inc);
}

bool CheckDev(const char* fn, const char* what, const void* p, size_t floats, std::string* why) {
  if (floats == 0) return true;
  std::string r;
  if (DeviceRange(p, floats * sizeof(float), &r)) return true;
  *why = Format("%s: %s: %s", fn, what, r.c_str());
  return false;
}
bool CheckHost(const char* fn, const char* what, const void* p, std::string* why) {
  if (p && !InArena(p)) return true;
  *why = Format("%s: %s %p must be a host pointer (pointer mode host)", fn, what, p);
  return false;
}

template <class F>
cublasStatus_t RunBlas(const char* fn, F body) {
  DeviceOp op(fn);
  if (!GuardedCall(body)) return BlasError(CUBLAS_STATUS_EXECUTION_FAILED, g_fault_message);
  return CUBLAS_STATUS_SUCCESS;
}

// C (m x n, ldc) = alpha op(A) op(B) + beta C, column-major; each entry's products summed in k
// order with fused multiply-adds (cuBLAS's own order is unspecified).
void GemmKernel(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda,
                const float* B, int ldb, float beta, float* C, int ldc) {
  std::vector<float> a_rows, b_cols;
  const bool products = alpha != 0.f && k > 0;
  if (products) {
    a_rows.resize(size_t(m) * size_t(k));  // a_rows[i * k + l] = op(A)(i, l)
    b_cols.resize(size_t(n) * size_t(k));  // b_cols[j * k + l] = op(B)(l, j)
    for (int i = 0; i < m; ++i)
      for (int l = 0; l < k; ++l)
        a_rows[size_t(i) * k + l] = ta ? A[size_t(i) * lda + l] : A[size_t(l) * lda + i];
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < k; ++l)
        b_cols[size_t(j) * k + l] = tb ? B[size_t(l) * ldb + j] : B[size_t(j) * ldb + l];
  }
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float s = 0.f;
      if (products) {
        const float* ar = &a_rows[size_t(i) * k];
        const float* bc = &b_cols[size_t(j) * k];
        for (int l = 0; l < k; ++l) s = std::fma(ar[l], bc[l], s);
      }
      float& c = C[size_t(j) * ldc + i];
      c = beta == 0.f ? alpha * s : std::fma(alpha, s, beta * c);
    }
}

cublasStatus_t Gemm(const char* fn, cublasHandle_t handle, cublasOperation_t transa,
                    cublasOperation_t transb, int m, int n, int k, const float* alpha,
                    const float* A, int lda, long long strideA, const float* B, int ldb,
                    long long strideB, const float* beta, float* C, int ldc, long long strideC,
                    int batch) {
  if (!handle) return BlasError(CUBLAS_STATUS_NOT_INITIALIZED, fn);
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  const int a_rows = ta ? k : m, b_rows = tb ? n : k;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, a_rows) ||
      ldb < std::max(1, b_rows) || ldc < std::max(1, m))
    return BlasError(CUBLAS_STATUS_INVALID_VALUE,
                     Format("%s(%s, %s, m=%d, n=%d, k=%d, lda=%d, ldb=%d, ldc=%d, batch=%d)", fn,
                            ta ? "T" : "N", tb ? "T" : "N", m, n, k, lda, ldb, ldc, batch));
  std::string why;
  if (!CheckHost(fn, "alpha", alpha, &why) || !CheckHost(fn, "beta", beta, &why))
    return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  const int a_cols = ta ? m : k, b_cols = tb ? k : n;
  const size_t a_span = a_cols > 0 && a_rows > 0 ? size_t(a_cols - 1) * lda + a_rows : 0;
  const size_t b_span = b_cols > 0 && b_rows > 0 ? size_t(b_cols - 1) * ldb + b_rows : 0;
  const size_t c_span = size_t(n - 1) * ldc + m;
  const bool products = *alpha != 0.f && k > 0;
  for (int bi = 0; bi < batch; ++bi) {
    const float* Ab = A + bi * strideA;
    const float* Bb = B + bi * strideB;
    float* Cb = C + bi * strideC;
    if ((products && (!CheckDev(fn, "A", Ab, a_span, &why) || !CheckDev(fn, "B", Bb, b_span, &why))) ||
        !CheckDev(fn, "C", Cb, c_span, &why))
      return BlasError(CUBLAS_STATUS_INVALID_VALUE, Format("batch %d: %s", bi, why.c_str()));
  }
  const float al = *alpha, be = *beta;
  return RunBlas(fn, [&] {
    for (int bi = 0; bi < batch; ++bi)
      GemmKernel(ta, tb, m, n, k, al, A + bi * strideA, lda, B + bi * strideB, ldb, be,
                 C + bi * strideC, ldc);
  });
}

}  // namespace

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  return Gemm("cublasSgemm", handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta,
              C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const float* alpha, const float* A, int lda,
                                         long long strideA, const float* B, int ldb,
                                         long long strideB, const float* beta, float* C, int ldc,
                                         long long strideC, int batchCount) {
  return Gemm("cublasSgemmStridedBatched", handle, transa, transb, m, n, k, alpha, A, lda,
              strideA, B, ldb, strideB, beta, C, ldc, strideC, batchCount);
}

cublasStatus_t cublasSgemv(cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                           const float* alpha, const float* A, int lda, const float* x, int incx,
                           const float* beta, float* y, int incy) {
  const char* fn = "cublasSgemv";
  if (!handle) return BlasError(CUBLAS_STATUS_NOT_INITIALIZED, fn);
  if (m < 0 || n < 0 || lda < std::max(1, m) || incx == 0 || incy == 0)
    return BlasError(CUBLAS_STATUS_INVALID_VALUE,
                     Format("%s(m=%d, n=%d, lda=%d, incx=%d, incy=%d)", fn, m, n, lda, incx, incy));
  std::string why;
  if (!CheckHost(fn, "alpha", alpha, &why) || !CheckHost(fn, "beta", beta, &why))
    return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const bool t = trans != CUBLAS_OP_N;
  const int xlen = t ? m : n, ylen = t ? n : m;
  if (!CheckDev(fn, "A", A, size_t(n - 1) * lda + m, &why) ||
      !CheckDev(fn, "x", x, VectorSpan(xlen, incx), &why) ||
      !CheckDev(fn, "y", y, VectorSpan(ylen, incy), &why))
    return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  const float al = *alpha, be = *beta;
  if (incx < 0) x += 0;  // At() handles the direction
  return RunBlas(fn, [&] {
    for (int r = 0; r < ylen; ++r) {
      float s = 0.f;
      if (al != 0.f)
        for (int c = 0; c < xlen; ++c) {
          const float a = t ? A[size_t(r) * lda + c] : A[size_t(c) * lda + r];
          s = std::fma(a, x[At(c, xlen, incx)], s);
        }
      float& out = y[At(r, ylen, incy)];
      out = be == 0.f ? al * s : std::fma(al, s, be * out);
    }
  });
}

cublasStatus_t cublasSaxpy(cublasHandle_t handle, int n, const float* alpha, const float* x,
                           int incx, float* y, int incy) {
  const char* fn = "cublasSaxpy";
  if (!handle) return BlasError(CUBLAS_STATUS_NOT_INITIALIZED, fn);
  std::string why;
  if (!CheckHost(fn, "alpha", alpha, &why)) return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  if (n <= 0) return CUBLAS_STATUS_SUCCESS;
  if (incx == 0 || incy == 0)
    return BlasError(CUBLAS_STATUS_INVALID_VALUE, Format("%s: zero increment", fn));
  if (!CheckDev(fn, "x", x, VectorSpan(n, incx), &why) ||
      !CheckDev(fn, "y", y, VectorSpan(n, incy), &why))
    return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  const float al = *alpha;
  return RunBlas(fn, [&] {
    for (int i = 0; i < n; ++i) {
      float& out = y[At(i, n, incy)];
      out = std::fma(al, x[At(i, n, incx)], out);
    }
  });
}

cublasStatus_t cublasSscal(cublasHandle_t handle, int n, const float* alpha, float* x, int incx) {
  const char* fn = "cublasSscal";
  if (!handle) return BlasError(CUBLAS_STATUS_NOT_INITIALIZED, fn);
  std::string why;
  if (!CheckHost(fn, "alpha", alpha, &why)) return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  if (n <= 0 || incx <= 0) return CUBLAS_STATUS_SUCCESS;
  if (!CheckDev(fn, "x", x, VectorSpan(n, incx), &why))
    return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  const float al = *alpha;
  return RunBlas(fn, [&] {
    for (int i = 0; i < n; ++i) x[size_t(i) * incx] *= al;
  });
}

cublasStatus_t cublasSdot(cublasHandle_t handle, int n, const float* x, int incx, const float* y,
                          int incy, float* result) {
  const char* fn = "cublasSdot";
  if (!handle) return BlasError(CUBLAS_STATUS_NOT_INITIALIZED, fn);
  std::string why;
  if (!CheckHost(fn, "result", result, &why)) return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  *result = 0.f;
  if (n <= 0) return CUBLAS_STATUS_SUCCESS;
  if (!CheckDev(fn, "x", x, VectorSpan(n, incx), &why) ||
      !CheckDev(fn, "y", y, VectorSpan(n, incy), &why))
    return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  float s = 0.f;
  const cublasStatus_t st = RunBlas(fn, [&] {
    for (int i = 0; i < n; ++i) s = std::fma(x[At(i, n, incx)], y[At(i, n, incy)], s);
  });
  *result = s;
  return st;
}

cublasStatus_t cublasSasum(cublasHandle_t handle, int n, const float* x, int incx, float* result) {
  const char* fn = "cublasSasum";
  if (!handle) return BlasError(CUBLAS_STATUS_NOT_INITIALIZED, fn);
  std::string why;
  if (!CheckHost(fn, "result", result, &why)) return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  *result = 0.f;
  if (n <= 0 || incx <= 0) return CUBLAS_STATUS_SUCCESS;
  if (!CheckDev(fn, "x", x, VectorSpan(n, incx), &why))
    return BlasError(CUBLAS_STATUS_INVALID_VALUE, why);
  float s = 0.f;
  const cublasStatus_t st = RunBlas(fn, [&] {
    for (int i = 0; i < n; ++i) s += std::fabs(x[size_t(i) * incx]);
  });
  *result = s;
  return st;
}

}  // extern "C"
