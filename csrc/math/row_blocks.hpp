// Row blocks for the per-row reductions (math_functions.cpp, row_passes.cpp): each row of a
// (rows, len) matrix is added in index order, as one plain loop would, so its bits do not
// depend on the blocking; rows go kRowsAtOnce at a time (independent add chains instead of one
// waiting on the add latency) and row blocks over threads (the same bits on any thread count).
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/parallel.hpp"

namespace augdrop {

constexpr int64_t kRowsAtOnce = 8;

// f(first_row, rows_in_block) over blocks of kRowsAtOnce rows; threads where the work is big
// enough to pay for them.
template <class F>
void ForRowBlocks(int64_t rows, int64_t len, F&& f) {
  const int64_t blocks = (rows + kRowsAtOnce - 1) / kRowsAtOnce;
  auto block = [&](int64_t b, int) {
    f(b * kRowsAtOnce, std::min(kRowsAtOnce, rows - b * kRowsAtOnce));
  };
  if (rows * len >= (int64_t(1) << 15)) {
    ParallelFor(blocks, block);
  } else {
    for (int64_t b = 0; b < blocks; ++b) block(b, 0);
  }
}

}  // namespace augdrop
