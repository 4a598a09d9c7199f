// Winograd's minimal filtering F(2x2, 3x3) for 3x3, stride-1, undilated convolutions (Lavin
// and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of
// output pixels ("tile") of each output channel is
//     Y = A^T [ sum_c (G g_c G^T) .* (B^T d_c B) ] A
// where d_c is the tile's 4x4 input window of channel c and g_c the 3x3 filter, with
//     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//     A^T = [1 1 1 0; 0 1 -1 -1].
// The sum over c is 16 GEMMs, one per element xi of the 4x4 transformed tile:
//     M_xi (outputs x tiles) = U_xi (outputs x channels) * V_xi (channels x tiles),
// which take 16 multiply-adds per tile and channel pair where the direct convolution takes 36:
// 2.25x fewer. The GEMMs run on the implicit-GEMM kernels (math/implicit_gemm.hpp), a strip
// of tile rows at a time so that V and M stay in the L2 cache.
//
// Rounding: the transforms add and subtract up to 9 terms before the products (G has 1/2,
// exact in binary), so the result differs from the direct sum in the last bits of the
// largest terms; tests/test_winograd.py measures it against float64 loops and the golden
// tolerance.
#pragma once

#include <cstdint>

#include "math/im2col.hpp"

namespace augdrop {

// 3x3 kernel, stride 1, dilation 1, even output height and width, any padding.
bool WinogradFits(const ConvGeometry& g);

// The transformed filters of an M x R filter bank: filter (i, r) is the 3x3 block at
// w + i * i_stride + r * r_stride (row-major; `flip`: rotated by 180 degrees, as the data
// gradient's flipped convolution needs). packed holds 16 * M * R floats: per xi, U_xi packed
// for ImplicitGemm (PackRowBlocks' layout).
void WinogradPackFilters(int64_t M, int64_t R, const float* w, int64_t i_stride,
                         int64_t r_stride, bool flip, float* packed);

// Floats of scratch one image's WinogradConv needs (per thread).
int64_t WinogradScratchSize(const ConvGeometry& g, int64_t M);

// out (M, H_out, W_out) = the convolution of image (g.channels, H, W) with the filters packed
// by WinogradPackFilters(M, g.channels, ...), plus bias[i] (when not null) after the sum.
void WinogradConv(const ConvGeometry& g, int64_t M, const float* packed, const float* image,
                  const float* bias, float* out, float* scratch);

}  // namespace augdrop
