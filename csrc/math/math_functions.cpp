#include "math/math_functions.hpp"

#include <algorithm>
#include <cstring>

#include "core/errors.hpp"
#include "core/parallel.hpp"
#include "math/blas.hpp"
#include "math/row_blocks.hpp"

#ifdef AUGDROP_BLAS_SCIPY_PREFIX
extern "C" void scipy_openblas_set_num_threads(int);
extern "C" int scipy_openblas_get_num_threads(void);
#define AD_BLAS_SET_THREADS scipy_openblas_set_num_threads
#define AD_BLAS_GET_THREADS scipy_openblas_get_num_threads
#else
extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);
#define AD_BLAS_SET_THREADS openblas_set_num_threads
#define AD_BLAS_GET_THREADS openblas_get_num_threads
#endif

namespace augdrop {
namespace {

int AsBlasInt(int64_t v) {
  AD_CHECK(v >= 0 && v <= 0x7fffffff, "matrix dimension " << v << " exceeds 32-bit BLAS");
  return static_cast<int>(v);
}

}  // namespace

void cpu_gemm(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, const float* B, float beta, float* C) {
  if (M == 0 || N == 0) return;
  const int lda = AsBlasInt(trans_a == Trans::No ? K : M);
  const int ldb = AsBlasInt(trans_b == Trans::No ? N : K);
  AD_CBLAS(sgemm)(CblasRowMajor, trans_a == Trans::No ? CblasNoTrans : CblasTrans,
                  trans_b == Trans::No ? CblasNoTrans : CblasTrans, AsBlasInt(M), AsBlasInt(N),
                  AsBlasInt(K), alpha, A, lda, B, ldb, beta, C, AsBlasInt(N));
}

void cpu_gemm_ld(Trans trans_a, Trans trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  if (M == 0 || N == 0) return;
  AD_CBLAS(sgemm)(CblasRowMajor, trans_a == Trans::No ? CblasNoTrans : CblasTrans,
                  trans_b == Trans::No ? CblasNoTrans : CblasTrans, AsBlasInt(M), AsBlasInt(N),
                  AsBlasInt(K), alpha, A, AsBlasInt(lda), B, AsBlasInt(ldb), beta, C,
                  AsBlasInt(ldc));
}

void cpu_gemv(Trans trans_a, int64_t M, int64_t N, float alpha, const float* A, const float* x,
              float beta, float* y) {
  if (M == 0 || N == 0) return;
  AD_CBLAS(sgemv)(CblasRowMajor, trans_a == Trans::No ? CblasNoTrans : CblasTrans,
                  AsBlasInt(M), AsBlasInt(N), alpha, A, AsBlasInt(N), x, 1, beta, y, 1);
}

void cpu_axpy(int64_t n, float alpha, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void cpu_axpby(int64_t n, float alpha, const float* x, float beta, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i] + beta * y[i];
}

void cpu_scal(int64_t n, float alpha, float* x) {
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

void cpu_copy(int64_t n, const float* x, float* y) {
  if (x != y && n > 0) std::memcpy(y, x, n * sizeof(float));
}

void cpu_set(int64_t n, float value, float* x) { std::fill(x, x + n, value); }

void cpu_row_sums(int64_t rows, int64_t len, const float* a, float alpha, float* out) {
  ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
    float s[kRowsAtOnce] = {};
    const float* row = a + r0 * len;
    if (nr == kRowsAtOnce) {
      for (int64_t k = 0; k < len; ++k)
        for (int64_t j = 0; j < kRowsAtOnce; ++j) s[j] += row[j * len + k];
    } else {
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t k = 0; k < len; ++k) s[j] += row[j * len + k];
    }
    for (int64_t j = 0; j < nr; ++j) out[r0 + j] = alpha * s[j];
  });
}

void cpu_row_dots(int64_t rows, int64_t len, const float* a, const float* b, float* out) {
  ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
    float s[kRowsAtOnce] = {};
    const float* ra = a + r0 * len;
    const float* rb = b + r0 * len;
    if (nr == kRowsAtOnce) {
      for (int64_t k = 0; k < len; ++k)
        for (int64_t j = 0; j < kRowsAtOnce; ++j) s[j] += ra[j * len + k] * rb[j * len + k];
    } else {
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t k = 0; k < len; ++k) s[j] += ra[j * len + k] * rb[j * len + k];
    }
    for (int64_t j = 0; j < nr; ++j) out[r0 + j] = s[j];
  });
}

void cpu_row_sums_and_dots(int64_t rows, int64_t len, const float* a, const float* b,
                           float* sums, float* dots) {
  ForRowBlocks(rows, len, [&](int64_t r0, int64_t nr) {
    float s[kRowsAtOnce] = {}, d[kRowsAtOnce] = {};
    const float* ra = a + r0 * len;
    const float* rb = b + r0 * len;
    if (nr == kRowsAtOnce) {
      for (int64_t k = 0; k < len; ++k)
        for (int64_t j = 0; j < kRowsAtOnce; ++j) {
          s[j] += ra[j * len + k];
          d[j] += ra[j * len + k] * rb[j * len + k];
        }
    } else {
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t k = 0; k < len; ++k) {
          s[j] += ra[j * len + k];
          d[j] += ra[j * len + k] * rb[j * len + k];
        }
    }
    for (int64_t j = 0; j < nr; ++j) {
      sums[r0 + j] = s[j];
      dots[r0 + j] = d[j];
    }
  });
}

float cpu_dot(int64_t n, const float* x, const float* y) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * y[i];
  return static_cast<float>(s);
}

float cpu_asum(int64_t n, const float* x) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] < 0 ? -x[i] : x[i];
  return static_cast<float>(s);
}

void set_blas_threads(int n) { AD_BLAS_SET_THREADS(n); }
int blas_threads() { return AD_BLAS_GET_THREADS(); }

}  // namespace augdrop
