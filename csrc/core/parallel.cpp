#include "core/parallel.hpp"

#include "core/errors.hpp"

namespace augdrop {

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

}  // namespace augdrop
