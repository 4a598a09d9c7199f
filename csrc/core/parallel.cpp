#include "core/parallel.hpp"

#include <atomic>

#include "core/errors.hpp"

namespace augdrop {
namespace {

std::atomic<int> reduction_slots{2};

}  // namespace

int MaxThreads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void SetNumThreads(int n) {
  AD_CHECK(n >= 1, "the thread count must be at least 1, got " << n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int ReductionSlots() { return reduction_slots.load(std::memory_order_relaxed); }

void SetReductionSlots(int n) {
  AD_CHECK(n >= 1 && n <= 256, "the reduction slot count must be in [1, 256], got " << n);
  reduction_slots.store(n, std::memory_order_relaxed);
}

}  // namespace augdrop
