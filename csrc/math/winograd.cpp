#include "math/winograd.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "math/implicit_gemm.hpp"
#include "math/simd.hpp"

namespace augdrop {
namespace {

using simd::Load;
using simd::Store;
using simd::Vec;

constexpr int kXi = 16;  // elements of a transformed 4x4 tile

// Floats from one xi's V (or M) to the next: rows * S plus a cache line, so that the 16
// streams the transforms read and write together do not fall on the same cache sets (the
// plain stride is a multiple of 4 KB on ResNet-20's shapes).
inline int64_t XiStride(int64_t rows, int64_t S) { return rows * S + 16; }

// A strip of tile rows: `rows` of them, S tiles in all rounded up to whole vectors.
struct Strip {
  int64_t rows, tiles;
};

// Strips small enough that V (16 x R x S) and M (16 x M x S) share about 192 KB of L2.
Strip PlanStrip(const ConvGeometry& g, int64_t M) {
  const int64_t tw = g.out_w() / 2, th = g.out_h() / 2;
  const int64_t budget = (int64_t(48) << 10) / (kXi * (g.channels + M));
  const int64_t rows = std::clamp<int64_t>(budget / tw, 1, th);
  return {rows, (rows * tw + kVec - 1) / kVec * kVec};
}

// Floats of a padded input row in the strip's buffer: the row (W + 2 pad_w = 2 tw + 2) and
// the slack the deinterleaving loads read past it.
int64_t PaddedRow(int64_t tw) { return 2 * tw + 2 + 4 * kVec; }

// Floats of the per-strip buffers: the strip's padded input rows, d B of each, and the output
// transform's four results per tile.
int64_t BufferSize(const ConvGeometry& g, const Strip& s) {
  const int64_t tw = g.out_w() / 2, in_rows = 2 * s.rows + 2;
  return in_rows * PaddedRow(tw) + in_rows * 4 * tw + 4 * s.tiles;
}

// p[0], p[2], ..., p[2 kVec - 2]. (The odd elements are taken as Even(p + 1): GCC compiles
// the odd-lane shuffle of two AVX2 registers into a much slower sequence.)
template <int... I>
inline Vec EvenOf(const float* p, std::integer_sequence<int, I...>) {
  return __builtin_shufflevector(Load(p), Load(p + kVec), (2 * I)...);
}

// d[b][tj] = (d B)(b) of the tiles' 4-column windows of one padded row p: columns 2 tj + j.
inline void RowTransform(const float* __restrict p, int64_t tw, float* __restrict d) {
  constexpr auto lanes = std::make_integer_sequence<int, kVec>{};
  int64_t tj = 0;
  for (; tj + kVec <= tw; tj += kVec) {
    const Vec e0 = EvenOf(p + 2 * tj, lanes), o0 = EvenOf(p + 2 * tj + 1, lanes);
    const Vec e1 = EvenOf(p + 2 * tj + 2, lanes), o1 = EvenOf(p + 2 * tj + 3, lanes);
    Store(d + tj, e0 - e1);
    Store(d + tw + tj, o0 + e1);
    Store(d + 2 * tw + tj, e1 - o0);
    Store(d + 3 * tw + tj, o0 - o1);
  }
  for (; tj < tw; ++tj) {
    const float e0 = p[2 * tj], o0 = p[2 * tj + 1], e1 = p[2 * tj + 2], o1 = p[2 * tj + 3];
    d[tj] = e0 - e1;
    d[tw + tj] = o0 + e1;
    d[2 * tw + tj] = e1 - o0;
    d[3 * tw + tj] = o0 - o1;
  }
}

// v_a[tj] = (B^T (d B))(a, b) from the four rows' d[b]: v0 = d0 - d2, v1 = d1 + d2,
// v2 = d2 - d1, v3 = d1 - d3.
inline void ColumnTransform(const float* __restrict d0, const float* __restrict d1,
                            const float* __restrict d2, const float* __restrict d3, int64_t n,
                            float* __restrict v0, float* __restrict v1, float* __restrict v2,
                            float* __restrict v3) {
  int64_t k = 0;
  for (; k + kVec <= n; k += kVec) {
    const Vec x0 = Load(d0 + k), x1 = Load(d1 + k), x2 = Load(d2 + k), x3 = Load(d3 + k);
    Store(v0 + k, x0 - x2);
    Store(v1 + k, x1 + x2);
    Store(v2 + k, x2 - x1);
    Store(v3 + k, x1 - x3);
  }
  for (; k < n; ++k) {
    v0[k] = d0[k] - d2[k];
    v1[k] = d1[k] + d2[k];
    v2[k] = d2[k] - d1[k];
    v3[k] = d1[k] - d3[k];
  }
}

// V[xi][c][t * tw + tj] = (B^T d B)[xi] for the tiles of tile rows [ti0, ti0 + rows): first
// d B for each input row the strip reads (rows overlap by two between tile rows), then B^T
// down each tile's four rows.
void TransformInput(const ConvGeometry& g, const float* image, int64_t ti0, int64_t rows,
                    int64_t S, float* __restrict V, float* __restrict buf) {
  const int64_t tw = g.out_w() / 2, C = g.channels, H = g.height, W = g.width;
  const int64_t in_rows = 2 * rows + 2, row_size = PaddedRow(tw);
  const int64_t xi_stride = XiStride(C, S);
  // All the strip's padded rows of a channel are copied before any is read back: a vector
  // load over several just-stored floats waits for the stores to retire (no forwarding).
  float* __restrict padded = buf;
  float* __restrict db = buf + in_rows * row_size;  // [input row][b][tj]
  const int64_t begin = std::clamp<int64_t>(g.pad_w, 0, 2 * tw + 2);
  const int64_t end = std::clamp<int64_t>(W + g.pad_w, begin, 2 * tw + 2);
  std::fill(padded, padded + in_rows * row_size, 0.f);
  for (int64_t c = 0; c < C; ++c) {
    const float* plane = image + c * H * W;
    for (int64_t r = 0; r < in_rows; ++r) {
      const int64_t h = 2 * ti0 + r - g.pad_h;
      if (h < 0 || h >= H) continue;  // stays zero: no channel writes it
      const float* row = plane + h * W - g.pad_w;
      float* __restrict out = padded + r * row_size;
      for (int64_t k = begin; k < end; ++k) out[k] = row[k];
    }
    for (int64_t r = 0; r < in_rows; ++r) RowTransform(padded + r * row_size, tw, db + r * 4 * tw);
    for (int64_t t = 0; t < rows; ++t) {
      float* v = V + c * S + t * tw;
      const float* r0 = db + 2 * t * 4 * tw;
      for (int b = 0; b < 4; ++b) {
        const float* d0 = r0 + b * tw;
        ColumnTransform(d0, d0 + 4 * tw, d0 + 8 * tw, d0 + 12 * tw, tw, v + b * xi_stride,
                        v + (4 + b) * xi_stride, v + (8 + b) * xi_stride,
                        v + (12 + b) * xi_stride);
      }
    }
  }
}

// out(k, 2 ti + i, 2 tj + j) = (A^T M A)(i, j) + bias[k] for the strip's tiles: the
// arithmetic over all the strip's tiles at once (whole vectors), then each tile row's two
// output rows interleaved from it.
void TransformOutput(const ConvGeometry& g, int64_t M, const float* __restrict Mb, int64_t ti0,
                     int64_t rows, int64_t S, const float* bias, float* __restrict out,
                     float* __restrict buf) {
  const int64_t tw = g.out_w() / 2, wo = g.out_w(), plane = g.out_h() * wo;
  const int64_t xi_stride = XiStride(M, S), n = rows * tw;
  float* __restrict y00 = buf;
  float* __restrict y01 = buf + S;
  float* __restrict y10 = buf + 2 * S;
  float* __restrict y11 = buf + 3 * S;
  for (int64_t k = 0; k < M; ++k) {
    const float add = bias ? bias[k] : 0.f;  // after the sum, as Caffe adds it after the GEMM
    const float* __restrict m = Mb + k * S;
    for (int64_t s = 0; s < n; ++s) {
      float s0[4], s1[4];
#pragma GCC unroll 4
      for (int b = 0; b < 4; ++b) {
        const float m0 = m[b * xi_stride + s], m1 = m[(4 + b) * xi_stride + s];
        const float m2 = m[(8 + b) * xi_stride + s], m3 = m[(12 + b) * xi_stride + s];
        s0[b] = m0 + m1 + m2;
        s1[b] = m1 - m2 - m3;
      }
      y00[s] = s0[0] + s0[1] + s0[2] + add;
      y01[s] = s0[1] - s0[2] - s0[3] + add;
      y10[s] = s1[0] + s1[1] + s1[2] + add;
      y11[s] = s1[1] - s1[2] - s1[3] + add;
    }
    for (int64_t t = 0; t < rows; ++t) {
      float* __restrict o0 = out + k * plane + 2 * (ti0 + t) * wo;
      float* __restrict o1 = o0 + wo;
      const int64_t at = t * tw;
      for (int64_t tj = 0; tj < tw; ++tj) {
        o0[2 * tj] = y00[at + tj];
        o0[2 * tj + 1] = y01[at + tj];
        o1[2 * tj] = y10[at + tj];
        o1[2 * tj + 1] = y11[at + tj];
      }
    }
  }
}

}  // namespace

bool WinogradFits(const ConvGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
         g.dilation_h == 1 && g.dilation_w == 1 && g.out_h() > 0 && g.out_w() > 0 &&
         g.out_h() % 2 == 0 && g.out_w() % 2 == 0;
}

void WinogradPackFilters(int64_t M, int64_t R, const float* w, int64_t i_stride,
                         int64_t r_stride, bool flip, float* packed) {
  std::vector<float> u(kXi * M * R);  // u[xi][i][r]
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t r = 0; r < R; ++r) {
      const float* f = w + i * i_stride + r * r_stride;
      double g[3][3];
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) g[a][b] = flip ? f[8 - (3 * a + b)] : f[3 * a + b];
      // G g (4 x 3), then (G g) G^T (4 x 4), in double, rounded once.
      double gg[4][3];
      for (int b = 0; b < 3; ++b) {
        gg[0][b] = g[0][b];
        gg[1][b] = 0.5 * (g[0][b] + g[1][b] + g[2][b]);
        gg[2][b] = 0.5 * (g[0][b] - g[1][b] + g[2][b]);
        gg[3][b] = g[2][b];
      }
      for (int a = 0; a < 4; ++a) {
        const double row[4] = {gg[a][0], 0.5 * (gg[a][0] + gg[a][1] + gg[a][2]),
                               0.5 * (gg[a][0] - gg[a][1] + gg[a][2]), gg[a][2]};
        for (int b = 0; b < 4; ++b) u[((a * 4 + b) * M + i) * R + r] = static_cast<float>(row[b]);
      }
    }
  }
  for (int xi = 0; xi < kXi; ++xi) {
    PackRowBlocks(M, R, u.data() + xi * M * R, R, 1, packed + xi * M * R);
  }
}

int64_t WinogradScratchSize(const ConvGeometry& g, int64_t M) {
  const Strip s = PlanStrip(g, M);
  return kXi * (XiStride(g.channels, s.tiles) + XiStride(M, s.tiles)) + BufferSize(g, s);
}

void WinogradConv(const ConvGeometry& g, int64_t M, const float* packed, const float* image,
                  const float* bias, float* out, float* scratch) {
  const int64_t R = g.channels, th = g.out_h() / 2, tw = g.out_w() / 2;
  const Strip strip = PlanStrip(g, M);
  const int64_t S = strip.tiles;
  float* V = scratch;
  const int64_t v_stride = XiStride(R, S), m_stride = XiStride(M, S);
  float* Mb = V + kXi * v_stride;
  float* buf = Mb + kXi * m_stride;
  std::vector<int32_t> offsets(R);  // row c of V_xi
  for (int64_t c = 0; c < R; ++c) offsets[c] = static_cast<int32_t>(c * S);
  for (int64_t ti0 = 0; ti0 < th; ti0 += strip.rows) {
    const int64_t rows = std::min(strip.rows, th - ti0);
    // Tiles past the strip's last one (up to whole vectors) are zero; their M is not read.
    if (rows * tw < S) {
      for (int xi = 0; xi < kXi; ++xi)
        for (int64_t c = 0; c < R; ++c) {
          float* row = V + xi * v_stride + c * S;
          std::fill(row + rows * tw, row + S, 0.f);
        }
    }
    TransformInput(g, image, ti0, rows, S, V, buf);
    for (int xi = 0; xi < kXi; ++xi) {
      ImplicitGemm(M, R, packed + xi * M * R, offsets.data(), V + xi * v_stride, S, nullptr,
                   Mb + xi * m_stride, S);
    }
    TransformOutput(g, M, Mb, ti0, rows, S, bias, out, buf);
  }
}

}  // namespace augdrop
