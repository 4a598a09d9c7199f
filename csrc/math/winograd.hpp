// Winograd's minimal filtering F(2x2, KxK) for 3x3 and 5x5, stride-1, undilated
// convolutions (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
// each 2x2 block of output pixels ("tile") of each output channel is
//     Y = A^T [ sum_c (G g_c G^T) .* (B^T d_c B) ] A
// where d_c is the tile's A x A input window of channel c (A = K + 1) and g_c the K x K
// filter. F(2x2, 3x3) takes Lavin and Gray's matrices,
//     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//     A^T = [1 1 1 0; 0 1 -1 -1];
// F(2x2, 5x5) Toom-Cook's on the points 0, 1, -1, 2, -2, infinity (winograd.cpp). The sum
// over c is A^2 GEMMs, one per element xi of the transformed tile:
//     M_xi (outputs x tiles) = U_xi (outputs x channels) * V_xi (channels x tiles),
// A^2 multiply-adds per tile and channel pair where the direct convolution takes 4 K^2:
// 2.25x fewer for 3x3, 2.78x for 5x5. The GEMMs run on the implicit-GEMM kernels
// (math/implicit_gemm.hpp), a strip of tile rows at a time so that V and M stay in L2.
//
// Rounding: the transforms combine up to A^2 terms before the products (F(2x2, 5x5) with
// factors up to 5 in B and 1/24 in G), so the result differs from the direct sum in the
// last bits of the largest terms; tests/test_winograd.py measures it against float64 loops
// and the golden tolerance.
#pragma once

#include <cstdint>

#include "math/im2col.hpp"

namespace augdrop {

// A 3x3 or 5x5 kernel, stride 1, dilation 1, even output height and width, any padding.
bool WinogradFits(const ConvGeometry& g);

// Floats of the transformed filters of an M x R bank of kernel x kernel filters.
int64_t WinogradFilterSize(int64_t kernel, int64_t M, int64_t R);

// The transformed filters of an M x R filter bank: filter (i, r) is the kernel x kernel block
// at w + i * i_stride + r * r_stride (row-major; `flip`: rotated by 180 degrees, as the data
// gradient's flipped convolution needs). packed holds WinogradFilterSize floats: per xi,
// U_xi packed for ImplicitGemm (PackRowBlocks' layout).
void WinogradPackFilters(int64_t kernel, int64_t M, int64_t R, const float* w,
                         int64_t i_stride, int64_t r_stride, bool flip, float* packed);

// Floats of scratch one image's WinogradConv needs (per thread).
int64_t WinogradScratchSize(const ConvGeometry& g, int64_t M);

// out (M, H_out, W_out) = the convolution of image (g.channels, H, W) with the filters packed
// by WinogradPackFilters(M, g.channels, ...), plus bias[i] (when not null) after the sum.
void WinogradConv(const ConvGeometry& g, int64_t M, const float* packed, const float* image,
                  const float* bias, float* out, float* scratch);

// The weight gradient in the transformed domain: the gradient of U_xi is
//     dU_xi (channels x outputs) += V_xi (channels x tiles) * (A dy A^T)_xi^T (tiles x outputs)
// summed over tiles and images, and dW = G^T dU G once at the end (WinogradAddWeightGrad):
// A^2 multiply-adds per tile and channel pair here too, on the weight-gradient kernels.
// Floats of one dU accumulator: xi x R x ld (ld >= outputs, a multiple of kVec).
int64_t WinogradWeightGradSize(int64_t kernel, int64_t R, int64_t ld);
// dU[xi][r][m] += ... for one image (g.channels = R inputs) and its top diff dy (M channels).
void WinogradWeightGrad(const ConvGeometry& g, int64_t M, int64_t ld, const float* image,
                        const float* dy, float* dU, float* scratch);
// dw's filter (i, r) (kernel x kernel at dw + i * i_stride + r * r_stride) += G^T dU[.][r][i] G,
// computed in double and rounded once.
void WinogradAddWeightGrad(int64_t kernel, int64_t M, int64_t R, int64_t ld, const float* dU,
                           float* dw, int64_t i_stride, int64_t r_stride);

}  // namespace augdrop
