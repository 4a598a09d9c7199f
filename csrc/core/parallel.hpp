// Threads across independent items (images, channel planes, row blocks) for the loops the
// core owns; OpenMP when the compiler has it, a plain loop otherwise. The BLAS runs single-
// threaded inside these loops: on these nets' small matrices, splitting the work by image
// beats the BLAS's own threading, and one pool of threads never fights another.
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace augdrop {

// f(i, thread) for i in [0, n); thread in [0, MaxThreads()).
template <class F>
void ParallelFor(int64_t n, F&& f) {
#ifdef _OPENMP
  if (n > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i, omp_get_thread_num());
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) f(i, 0);
}

// f(begin, end) over about equal blocks of [0, n), one per thread, each at least min_block.
template <class F>
void ParallelBlocks(int64_t n, int64_t min_block, F&& f);

int MaxThreads();
// Threads for the core's loops (OMP_NUM_THREADS or --threads; default all cores).
void SetNumThreads(int n);

template <class F>
void ParallelBlocks(int64_t n, int64_t min_block, F&& f) {
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(MaxThreads(), n / std::max<int64_t>(min_block, 1)));
  ParallelFor(blocks, [&](int64_t b, int) { f(n * b / blocks, n * (b + 1) / blocks); });
}

}  // namespace augdrop
