// Per-row passes of the normalization layers (BatchNorm, Scale), each one read of its inputs
// where the layers' formulas as written take several: the sums of each row added in index
// order and every element rounded once per operation, so that the results are those of the
// separate loops over memory they replace, bit for bit (compiled without contraction into
// fused multiply-adds; row_passes.cpp). Row r of a (rows, len) matrix is (n, c) with
// c = r % channels; per-channel values are indexed by c.
#pragma once

#include <cstdint>

namespace augdrop {

// out[r] = alpha * sum_k (x[r, k] - mean[c])^2: BatchNorm's variance rows, without writing
// the centred values.
void cpu_rows_centred_square_sums(int64_t rows, int64_t len, int64_t channels, const float* x,
                                  const float* mean, float alpha, float* out);

// y[r, k] = x_norm[r, k] = (x[r, k] - mean[c]) / sd[c]: BatchNorm's output and its copy for
// the backward pass (y may alias x).
void cpu_rows_normalize(int64_t rows, int64_t len, int64_t channels, const float* x,
                        const float* mean, const float* sd, float* y, float* x_norm);

// a_dot_b[r] = sum_k a[r, k] * b[r, k] (each product rounded, then added) and
// b_sum[r] = sum_k b[r, k]: BatchNorm's backward sums.
void cpu_rows_product_and_sums(int64_t rows, int64_t len, const float* a, const float* b,
                               float* a_dot_b, float* b_sum);

// keep[r, k] = x[r, k]; y[r, k] = scale[c] * x[r, k] (+ bias[c] where bias is not null):
// Scale's forward, keeping its bottom where it runs in place (keep may be null; y may alias x).
void cpu_rows_scale(int64_t rows, int64_t len, int64_t channels, const float* x,
                    const float* scale, const float* bias, float* y, float* keep);

}  // namespace augdrop
