// Stride-1 convolution as an implicit GEMM: no im2col matrix, this project's register-blocked
// kernels instead of the BLAS.
//
// For each kernel column kw the image is copied once, shifted left by kw * dilation_w - pad_w,
// subsampled by stride_w and zero-padded above and below (ShiftInput):
//     shifted[kw][c][ih % s][ih / s][ow] = x[c][ih - pad_h][ow * stride_w + kw * dilation_w - pad_w]
// for padded rows ih in [0, H + 2 pad_h), s = stride_h, and ow in [0, W_out): the rows split
// by phase, so that output row oh's source rows oh * s + kh * dilation_h, for consecutive oh,
// are consecutive rows of one phase. Then row r = (c, kh, kw) of Caffe's im2col matrix is the
// contiguous run shifted + offset[r] + [0, H_out * W_out) (RowOffsets): a kW-fold copy
// instead of a kH*kW-fold one, and every row of a register tile is two whole vectors. With
// stride 1 there is one phase and the copy is the padded image shifted by kw.
//
// Why not the BLAS: the convolution GEMMs are narrow (20-64 output channels) and long;
// single-threaded OpenBLAS runs them at 50-90 GFLOP/s on the development machine, and im2col
// with col2im cost as much again; these kernels run at about 105 of the 116 GFLOP/s FMA peak
// of one core. bench/NOTES.md has the measurements.
//
// The vectors are those of math/simd.hpp; the tile sizes follow the register count.
#pragma once

#include <cstdint>

#include "math/im2col.hpp"
#include "math/simd.hpp"

namespace augdrop {

#if defined(__AVX512F__)
constexpr int kMaxRows = 12;  // rows of an output tile: 2 * 12 accumulators of 32 registers
#else
constexpr int kMaxRows = 6;   // 2 * 6 accumulators of 16 registers
#endif

// Whether the kernels take this geometry: whole vectors of output pixels (any stride).
bool ImplicitGemmFits(const ConvGeometry& g);

// Floats of ShiftInput's copy of one image.
int64_t ShiftedSize(const ConvGeometry& g);
void ShiftInput(const float* image, const ConvGeometry& g, float* shifted);
// offsets[r] for the C * kH * kW rows of the im2col matrix, in Caffe's (c, kh, kw) order.
void RowOffsets(const ConvGeometry& g, int32_t* offsets);

// a (M x R), a(i, r) = src[i * row_stride + r * col_stride], packed for ImplicitGemm: row
// blocks of at most kMaxRows rows, each stored r-major. packed holds M * R floats.
void PackRowBlocks(int64_t M, int64_t R, const float* src, int64_t row_stride,
                   int64_t col_stride, float* packed);

// c(i, p) = bias[i] (0 without bias) + sum_r a(i, r) * shifted[offsets[r] + p], for i < M,
// p < P (a multiple of kVec); c(i, p) at c[i * ldc + p].
void ImplicitGemm(int64_t M, int64_t R, const float* packed_a, const int32_t* offsets,
                  const float* shifted, int64_t P, const float* bias, float* c, int64_t ldc);

// dst(p, m) = src(m, p) for m < M rounded up to whole vectors (zero beyond M) and p < P (a
// multiple of kVec): src(m, p) at src[m * lds + p], dst(p, m) at dst[p * ldd + m]. The top
// diff transposed for ImplicitWeightGrad, by blocks of kVec x kVec in registers.
void TransposeToVectors(int64_t M, int64_t P, const float* src, int64_t lds, float* dst,
                        int64_t ldd);

// dwt(k, m) += sum_p shifted[offsets[k] + p] * dyt(p, m), for k < K, m < ldd, p < P: the
// weight gradient, transposed so that the output channels lie along the vectors. dyt is
// P x ldd, row-major, ldd a multiple of kVec (zero beyond the real channels); dwt is K x ldd.
void ImplicitWeightGrad(int64_t K, int64_t ldd, int64_t P, const float* dyt,
                        const int32_t* offsets, const float* shifted, float* dwt);

}  // namespace augdrop
