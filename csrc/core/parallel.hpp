// Threads across independent items (images, channel planes, row blocks) for the loops the
// core owns; OpenMP when the compiler has it, a plain loop otherwise. The BLAS runs single-
// threaded inside these loops: on these nets' small matrices, splitting the work by image
// beats the BLAS's own threading, and one pool of threads never fights another.
//
// Reproducible on any thread count: a loop whose blocks keep partial sums (weight gradients
// summed over images) cuts its range into ReductionSlots() blocks, a number that does not
// follow the thread count, and adds the partial sums in block order. One thread or many then
// give the same bits. The default, 2, is the cut the 2-core development machine made before
// this rule (so the results recorded there are reproduced on any machine); more slots let
// more threads work on those loops, and change the last bits (the run's record says how many).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace augdrop {

// f(i, thread) for i in [0, n); thread in [0, MaxThreads()).
//
// An exception thrown by f must not leave an OpenMP region (that calls std::terminate and
// takes the Python interpreter with it): each iteration's exception is caught in the region
// and the one of the lowest failing index is rethrown on the calling thread once the region
// has ended, as the plain loop would have thrown it. Iterations after a failed one may be
// skipped; those before it all run, so which error is reported does not follow the threads.
template <class F>
void ParallelFor(int64_t n, F&& f) {
#ifdef _OPENMP
  if (n > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
    std::exception_ptr error;                // the exception of iteration first_failed
    std::atomic<int64_t> first_failed{n};    // n: none yet
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      if (i > first_failed.load(std::memory_order_relaxed)) continue;
      try {
        f(i, omp_get_thread_num());
      } catch (...) {
#pragma omp critical(augdrop_parallel_for_error)
        if (i < first_failed.load(std::memory_order_relaxed)) {
          error = std::current_exception();
          first_failed.store(i, std::memory_order_relaxed);
        }
      }
    }
    if (error) std::rethrow_exception(error);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) f(i, 0);
}

int MaxThreads();

// Elements per block of ForEachBlock: a few arrays of them stay in L1 between the passes a
// block makes over them.
constexpr int64_t kElementBlock = 4096;

// f(begin, end) for blocks [begin, end) of at most kElementBlock elements covering [0, n),
// the blocks over the threads in contiguous runs where n is big enough to pay for them: for
// elementwise loops, whose every element's result is the same whatever the cut. A loop of
// several passes (set, then add each input) made per block reads memory once.
template <class F>
void ForEachBlock(int64_t n, F&& f) {
  const int64_t blocks = (n + kElementBlock - 1) / kElementBlock;
  const int64_t runs = std::max<int64_t>(1, std::min<int64_t>(MaxThreads(), n >> 15));
  ParallelFor(runs, [&](int64_t r, int) {
    for (int64_t b = blocks * r / runs; b < blocks * (r + 1) / runs; ++b) {
      f(b * kElementBlock, std::min(n, (b + 1) * kElementBlock));
    }
  });
}

// Threads for the core's loops (OMP_NUM_THREADS or --threads; default all cores).
void SetNumThreads(int n);

// Blocks of a loop that keeps partial sums (see above); default 2.
int ReductionSlots();
void SetReductionSlots(int n);

// How many blocks [0, n) is cut into: ReductionSlots(), fewer where a block would hold less
// than min_block items. A function of n and min_block alone, never of the thread count.
inline int64_t SlotCount(int64_t n, int64_t min_block) {
  return std::max<int64_t>(1, std::min<int64_t>(ReductionSlots(), n / std::max<int64_t>(min_block, 1)));
}

// f(slot, begin, end, thread) over the SlotCount(n, min_block) blocks [n*s/S, n*(s+1)/S).
template <class F>
void ParallelSlots(int64_t n, int64_t min_block, F&& f) {
  const int64_t slots = SlotCount(n, min_block);
  ParallelFor(slots, [&](int64_t s, int t) { f(s, n * s / slots, n * (s + 1) / slots, t); });
}

}  // namespace augdrop
