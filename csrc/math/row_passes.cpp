// Contraction into fused multiply-adds is off here: the separate loops these passes replace
// round every product and every sum (a product stored to memory, then added), and so must
// these (row_passes.hpp).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "math/row_passes.hpp"

#include "math/row_blocks.hpp"

namespace augdrop {

void cpu_rows_centred_square_sums(int64_t rows, int64_t len, int64_t channels, const float* x,
                                  const float* mean, float alpha, float* out) {
  ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
    float s[kRowsAtOnce] = {}, m[kRowsAtOnce] = {};
    for (int64_t j = 0; j < nr; ++j) m[j] = mean[(r0 + j) % channels];
    const float* row = x + r0 * len;
    if (nr == kRowsAtOnce) {
      for (int64_t k = 0; k < len; ++k)
        for (int64_t j = 0; j < kRowsAtOnce; ++j) {
          const float t = row[j * len + k] - m[j];
          s[j] += t * t;
        }
    } else {
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t k = 0; k < len; ++k) {
          const float t = row[j * len + k] - m[j];
          s[j] += t * t;
        }
    }
    for (int64_t j = 0; j < nr; ++j) out[r0 + j] = alpha * s[j];
  });
}

void cpu_rows_normalize(int64_t rows, int64_t len, int64_t channels, const float* x,
                        const float* mean, const float* sd, float* y, float* x_norm) {
  ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
    for (int64_t r = r0; r < r0 + nr; ++r) {
      const float m = mean[r % channels], d = sd[r % channels];
      const float* in = x + r * len;
      float* out = y + r * len;
      float* kept = x_norm + r * len;
      for (int64_t k = 0; k < len; ++k) {
        const float v = (in[k] - m) / d;
        out[k] = v;
        kept[k] = v;
      }
    }
  });
}

void cpu_rows_product_and_sums(int64_t rows, int64_t len, const float* a, const float* b,
                               float* a_dot_b, float* b_sum) {
  ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
    float sp[kRowsAtOnce] = {}, sb[kRowsAtOnce] = {};
    const float* ra = a + r0 * len;
    const float* rb = b + r0 * len;
    if (nr == kRowsAtOnce) {
      for (int64_t k = 0; k < len; ++k)
        for (int64_t j = 0; j < kRowsAtOnce; ++j) {
          const float bv = rb[j * len + k];
          sp[j] += ra[j * len + k] * bv;
          sb[j] += bv;
        }
    } else {
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t k = 0; k < len; ++k) {
          const float bv = rb[j * len + k];
          sp[j] += ra[j * len + k] * bv;
          sb[j] += bv;
        }
    }
    for (int64_t j = 0; j < nr; ++j) {
      a_dot_b[r0 + j] = sp[j];
      b_sum[r0 + j] = sb[j];
    }
  });
}

void cpu_rows_scale(int64_t rows, int64_t len, int64_t channels, const float* x,
                    const float* scale, const float* bias, float* y, float* keep) {
  ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
    for (int64_t r = r0; r < r0 + nr; ++r) {
      const float f = scale[r % channels];
      const float* in = x + r * len;
      float* out = y + r * len;
      if (keep) {
        float* kept = keep + r * len;
        for (int64_t k = 0; k < len; ++k) kept[k] = in[k];
      }
      if (bias) {
        const float b = bias[r % channels];
        for (int64_t k = 0; k < len; ++k) out[k] = f * in[k] + b;
      } else {
        for (int64_t k = 0; k < len; ++k) out[k] = f * in[k];
      }
    }
  });
}

}  // namespace augdrop
