#include "math/implicit_gemm.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace augdrop {
namespace {

using simd::Load;
using simd::Store;
using simd::Vec;

#if defined(__AVX512F__)
constexpr int kAccRegs = 24;  // accumulators of a weight-gradient tile; the rest hold operands
#else
constexpr int kAccRegs = 12;
#endif
constexpr int kMaxVecs = 4;   // output channels of a weight-gradient tile: kMaxVecs * kVec
constexpr int kMaxGradRows = 8;  // its rows of k: one pointer register each

// Balanced blocks of at most `most`: block b of n is [M * b / n, M * (b + 1) / n).
inline int64_t Blocks(int64_t M, int64_t most) { return (M + most - 1) / most; }

// An MR x (NV * kVec) tile of c: c(i, :) = sum_r a[r * MR + i] * src[offsets[r] + :] + bias.
template <int MR, int NV>
void GemmTile(int64_t R, const float* __restrict a, const int32_t* __restrict offsets,
              const float* __restrict src, const float* bias, float* __restrict c, int64_t ldc) {
  Vec acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = Vec{};
  for (int64_t r = 0; r < R; ++r) {
    const float* s = src + offsets[r];
    Vec b[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) b[v] = Load(s + v * kVec);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] += a[i] * b[v];
    a += MR;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    const float add = bias ? bias[i] : 0.f;  // after the sum, as Caffe adds it after the GEMM
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) Store(c + i * ldc + v * kVec, acc[i][v] + add);
  }
}

template <int MR>
void GemmRowBlock(int64_t R, const float* a, const int32_t* offsets, const float* shifted,
                  int64_t P, const float* bias, float* c, int64_t ldc) {
  int64_t p = 0;
  for (; p + 2 * kVec <= P; p += 2 * kVec) GemmTile<MR, 2>(R, a, offsets, shifted + p, bias, c + p, ldc);
  if (p < P) GemmTile<MR, 1>(R, a, offsets, shifted + p, bias, c + p, ldc);
}

using RowBlockFn = void (*)(int64_t, const float*, const int32_t*, const float*, int64_t,
                            const float*, float*, int64_t);

template <int... I>
constexpr std::array<RowBlockFn, sizeof...(I)> RowBlockTable(std::integer_sequence<int, I...>) {
  return {&GemmRowBlock<I + 1>...};
}

// An NK x (CV * kVec) tile of dwt, summed over p < P.
template <int CV, int NK>
void WeightGradTile(int64_t P, const float* __restrict dyt, int64_t ldd,
                    const int32_t* offsets, const float* shifted, float* __restrict dwt) {
  const float* src[NK];
#pragma GCC unroll 16
  for (int i = 0; i < NK; ++i) src[i] = shifted + offsets[i];
  Vec acc[NK][CV];
#pragma GCC unroll 16
  for (int i = 0; i < NK; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < CV; ++v) acc[i][v] = Vec{};
  for (int64_t p = 0; p < P; ++p) {
    Vec d[CV];
#pragma GCC unroll 4
    for (int v = 0; v < CV; ++v) d[v] = Load(dyt + p * ldd + v * kVec);
#pragma GCC unroll 16
    for (int i = 0; i < NK; ++i) {
      const float s = src[i][p];
#pragma GCC unroll 4
      for (int v = 0; v < CV; ++v) acc[i][v] += s * d[v];
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < NK; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < CV; ++v) {
      float* out = dwt + i * ldd + v * kVec;
      Store(out, Load(out) + acc[i][v]);
    }
}

constexpr int GradRows(int cv) { return std::min(kAccRegs / cv, kMaxGradRows); }

using WeightGradFn = void (*)(int64_t, const float*, int64_t, const int32_t*, const float*,
                              float*);

// table[nk - 1] = WeightGradTile<CV, nk> for nk <= GradRows(CV).
template <int CV, int... I>
constexpr std::array<WeightGradFn, kMaxGradRows> WeightGradRow(std::integer_sequence<int, I...>) {
  return {(I < GradRows(CV) ? &WeightGradTile<CV, std::min(I + 1, GradRows(CV))> : nullptr)...};
}

// One stage of a kVec x kVec transpose: rows i and i + B exchange blocks of B elements.
constexpr int StageLow(int B, int e) { return (e % (2 * B)) < B ? e : kVec + e - B; }
constexpr int StageHigh(int B, int e) { return (e % (2 * B)) < B ? e + B : kVec + e; }

template <int B, int... E>
inline void TransposeStage(Vec* rows, std::integer_sequence<int, E...>) {
#pragma GCC unroll 16
  for (int i = 0; i < kVec; ++i) {
    if (i & B) continue;
    const Vec a = rows[i], b = rows[i + B];
    rows[i] = __builtin_shufflevector(a, b, StageLow(B, E)...);
    rows[i + B] = __builtin_shufflevector(a, b, StageHigh(B, E)...);
  }
}

inline void TransposeBlock(Vec* rows) {
  constexpr auto lanes = std::make_integer_sequence<int, kVec>{};
  if constexpr (kVec == 16) TransposeStage<8>(rows, lanes);
  TransposeStage<4>(rows, lanes);
  TransposeStage<2>(rows, lanes);
  TransposeStage<1>(rows, lanes);
}

}  // namespace

void TransposeToVectors(int64_t M, int64_t P, const float* src, int64_t lds, float* dst,
                        int64_t ldd) {
  for (int64_t m0 = 0; m0 < M; m0 += kVec) {
    for (int64_t p0 = 0; p0 < P; p0 += kVec) {
      Vec rows[kVec];
#pragma GCC unroll 16
      for (int i = 0; i < kVec; ++i) rows[i] = m0 + i < M ? Load(src + (m0 + i) * lds + p0) : Vec{};
      TransposeBlock(rows);
#pragma GCC unroll 16
      for (int i = 0; i < kVec; ++i) Store(dst + (p0 + i) * ldd + m0, rows[i]);
    }
  }
}

bool ImplicitGemmFits(const ConvGeometry& g) {
  return (g.out_h() * g.out_w()) % kVec == 0 && ShiftedSize(g) < (int64_t(1) << 31);
}

namespace {
// Padded input rows per row phase: padded row ih is row ih / stride_h of phase ih % stride_h.
int64_t PhaseRows(const ConvGeometry& g) {
  return (g.height + 2 * g.pad_h + g.stride_h - 1) / g.stride_h;
}
}  // namespace

int64_t ShiftedSize(const ConvGeometry& g) {
  return g.kernel_w * g.channels * g.stride_h * PhaseRows(g) * g.out_w();
}

void ShiftInput(const float* image, const ConvGeometry& g, float* shifted) {
  const int64_t s = g.stride_h, phase_rows = PhaseRows(g), out_w = g.out_w();
  const int64_t sw = g.stride_w;
  for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
    const int64_t shift = kw * g.dilation_w - g.pad_w;
    // Output columns ow whose source column ow * stride_w + shift lies in [0, width).
    const int64_t begin = std::clamp<int64_t>((-shift + sw - 1) / sw, 0, out_w);
    const int64_t end = std::clamp<int64_t>((g.width - shift + sw - 1) / sw, begin, out_w);
    for (int64_t c = 0; c < g.channels; ++c) {
      // Phase by phase, each phase's rows in order: padded row q * s + phase. (No division
      // per row: on cifar10_quick's conv2 that cost 5% of the whole training iteration.)
      float* out = shifted + (kw * g.channels + c) * s * phase_rows * out_w;
      for (int64_t phase = 0; phase < s; ++phase) {
        for (int64_t q = 0; q < phase_rows; ++q, out += out_w) {
          const int64_t h = q * s + phase - g.pad_h;
          if (h < 0 || h >= g.height) {
            std::fill(out, out + out_w, 0.f);
            continue;
          }
          const float* in = image + (c * g.height + h) * g.width;
          std::fill(out, out + begin, 0.f);
          if (sw == 1) {
            std::copy(in + begin + shift, in + end + shift, out + begin);
          } else {
            for (int64_t ow = begin; ow < end; ++ow) out[ow] = in[ow * sw + shift];
          }
          std::fill(out + end, out + out_w, 0.f);
        }
      }
    }
  }
}

void RowOffsets(const ConvGeometry& g, int32_t* offsets) {
  const int64_t s = g.stride_h, phase_rows = PhaseRows(g), out_w = g.out_w();
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t kh = 0; kh < g.kernel_h; ++kh)
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        // Output row oh reads padded row oh * s + kh * dilation_h: phase (kh * dilation_h) % s,
        // row oh + (kh * dilation_h) / s of that phase, so consecutive output rows are
        // consecutive rows of one phase plane.
        const int64_t tap = kh * g.dilation_h;
        *offsets++ = static_cast<int32_t>(
            (((kw * g.channels + c) * s + tap % s) * phase_rows + tap / s) * out_w);
      }
}

void PackRowBlocks(int64_t M, int64_t R, const float* src, int64_t row_stride,
                   int64_t col_stride, float* packed) {
  const int64_t blocks = Blocks(M, kMaxRows);
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t i0 = M * blk / blocks, rows = M * (blk + 1) / blocks - i0;
    float* out = packed + i0 * R;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t i = 0; i < rows; ++i) out[r * rows + i] = src[(i0 + i) * row_stride + r * col_stride];
  }
}

void ImplicitGemm(int64_t M, int64_t R, const float* packed_a, const int32_t* offsets,
                  const float* shifted, int64_t P, const float* bias, float* c, int64_t ldc) {
  static constexpr auto table = RowBlockTable(std::make_integer_sequence<int, kMaxRows>{});
  const int64_t blocks = Blocks(M, kMaxRows);
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t i0 = M * blk / blocks, rows = M * (blk + 1) / blocks - i0;
    table[rows - 1](R, packed_a + i0 * R, offsets, shifted, P, bias ? bias + i0 : nullptr,
                    c + i0 * ldc, ldc);
  }
}

void ImplicitWeightGrad(int64_t K, int64_t ldd, int64_t P, const float* dyt,
                        const int32_t* offsets, const float* shifted, float* dwt) {
  static constexpr std::array<std::array<WeightGradFn, kMaxGradRows>, kMaxVecs> table = {
      WeightGradRow<1>(std::make_integer_sequence<int, kMaxGradRows>{}),
      WeightGradRow<2>(std::make_integer_sequence<int, kMaxGradRows>{}),
      WeightGradRow<3>(std::make_integer_sequence<int, kMaxGradRows>{}),
      WeightGradRow<4>(std::make_integer_sequence<int, kMaxGradRows>{})};
  const int64_t vecs = ldd / kVec;
  for (int64_t v0 = 0; v0 < vecs; v0 += kMaxVecs) {
    const int cv = static_cast<int>(std::min<int64_t>(kMaxVecs, vecs - v0));
    const int64_t blocks = Blocks(K, GradRows(cv));
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t k0 = K * blk / blocks, rows = K * (blk + 1) / blocks - k0;
      table[cv - 1][rows - 1](P, dyt + v0 * kVec, ldd, offsets + k0, shifted,
                              dwt + k0 * ldd + v0 * kVec);
    }
  }
}

}  // namespace augdrop
