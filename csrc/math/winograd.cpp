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

// F(2, K)'s matrices for a K x K kernel: tiles of A = K + 1 input values per axis.
template <int K>
struct Winograd;

// F(2x2, 3x3): Lavin and Gray's matrices (interpolation points 0, 1, -1, infinity).
template <>
struct Winograd<3> {
  static constexpr int A = 4;
  static constexpr float BT[A][A] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr double G[A][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr float AT[2][A] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};

// F(2x2, 5x5): Toom-Cook on the points 0, 1, -1, 2, -2, infinity.
template <>
struct Winograd<5> {
  static constexpr int A = 6;
  static constexpr float BT[A][A] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0},
                                     {0, 4, -4, -1, 1, 0}, {0, -2, -1, 2, 1, 0},
                                     {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr double G[A][5] = {
      {1. / 4, 0, 0, 0, 0},
      {-1. / 6, -1. / 6, -1. / 6, -1. / 6, -1. / 6},
      {-1. / 6, 1. / 6, -1. / 6, 1. / 6, -1. / 6},
      {1. / 24, 1. / 12, 1. / 6, 1. / 3, 2. / 3},
      {1. / 24, -1. / 12, 1. / 6, -1. / 3, 2. / 3},
      {0, 0, 0, 0, 1}};
  static constexpr float AT[2][A] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 1}};
};

// sum_j c[j] * x[j] over the nonzero c[j], in j order, starting from the first term (so
// that 1 * x and -1 * x terms cost nothing after the loops are unrolled and folded).
template <int N, class T>
inline T Combine(const float (&c)[N], const T (&x)[N]) {
  T acc{};
  bool first = true;
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    if (c[j] == 0) continue;
    acc = first ? c[j] * x[j] : acc + c[j] * x[j];
    first = false;
  }
  return acc;
}

int64_t TileElements(int64_t kernel) { return (kernel + 1) * (kernel + 1); }

// Floats from one xi's V (or M) to the next: rows * S plus a cache line, so that the streams
// the transforms read and write together do not fall on the same cache sets (the plain stride
// is a multiple of 4 KB on ResNet-20's shapes).
inline int64_t XiStride(int64_t rows, int64_t S) { return rows * S + 16; }

// A strip of tile rows: `rows` of them, S tiles in all rounded up to whole vectors.
struct Strip {
  int64_t rows, tiles;
};

// Strips small enough that V (xi x R x S) and M (xi x M x S) share about 256 KB of L2, of a
// whole number of vectors of tiles where a smaller strip can be (the GEMMs run on whole
// vectors: cifar10_quick's conv3 in strips of 3 and 1 rows of 4 tiles wasted half of them).
Strip PlanStrip(const ConvGeometry& g, int64_t M) {
  const int64_t tw = g.out_w() / 2, th = g.out_h() / 2;
  const int64_t budget = (int64_t(64) << 10) / (TileElements(g.kernel_h) * (g.channels + M));
  int64_t rows = std::clamp<int64_t>(budget / tw, 1, th);
  for (int64_t r = rows; r > rows / 2; --r) {
    if ((r * tw) % kVec == 0 || r == th) {
      rows = r;
      break;
    }
  }
  return {rows, (rows * tw + kVec - 1) / kVec * kVec};
}

// Floats of a padded input row in the strip's buffer: the row (W + 2 pad_w = 2 tw + K - 1)
// and the slack the deinterleaving loads read past it.
int64_t PaddedRow(int64_t tw) { return 2 * tw + 8 + 4 * kVec; }

// Input rows a strip of `rows` tile rows reads.
int64_t InputRows(const ConvGeometry& g, int64_t rows) { return 2 * rows + g.kernel_h - 1; }

// Floats of the per-strip buffers: the strip's padded input rows, d B of each, and the output
// transform's four results per tile.
int64_t BufferSize(const ConvGeometry& g, const Strip& s) {
  const int64_t tw = g.out_w() / 2, in_rows = InputRows(g, s.rows);
  return in_rows * PaddedRow(tw) + in_rows * (g.kernel_h + 1) * tw + 4 * s.tiles;
}

// Half a vector (4 lanes): the transforms of rows of 4 to 7 tiles (8x8 to 14x14 outputs).
typedef float Vec4 __attribute__((vector_size(4 * sizeof(float))));
typedef float Vec4U __attribute__((vector_size(4 * sizeof(float)), aligned(alignof(float))));

template <class V>
constexpr int Lanes() {
  return sizeof(V) / sizeof(float);
}
template <class V>
inline V LoadV(const float* p) {
  if constexpr (Lanes<V>() == 4) {
    return *reinterpret_cast<const Vec4U*>(p);
  } else {
    return Load(p);
  }
}
template <class V>
inline void StoreV(float* p, V v) {
  if constexpr (Lanes<V>() == 4) {
    *reinterpret_cast<Vec4U*>(p) = v;
  } else {
    Store(p, v);
  }
}

// p[0], p[2], ..., p[2 L - 2] for L lanes. (GCC compiles the odd-lane shuffle of two AVX2
// registers into a much slower sequence; the odd elements are taken as EvenOf(p + 1).)
template <class V, int... I>
inline V EvenOf(const float* p, std::integer_sequence<int, I...>) {
  return __builtin_shufflevector(LoadV<V>(p), LoadV<V>(p + Lanes<V>()), (2 * I)...);
}

// d[b][tj] = (d B)(b) for tiles [tj, tj + L) of one padded row p: columns 2 tj + j.
template <int K, class V>
inline void RowTransformLanes(const float* __restrict p, int64_t tw, int64_t tj,
                              float* __restrict d) {
  using W = Winograd<K>;
  constexpr int A = W::A;
  constexpr auto lanes = std::make_integer_sequence<int, Lanes<V>()>{};
  V w[A];
#pragma GCC unroll 8
  for (int j = 0; j < A; ++j) w[j] = EvenOf<V>(p + 2 * tj + j, lanes);
#pragma GCC unroll 8
  for (int b = 0; b < A; ++b) StoreV(d + b * tw + tj, Combine(W::BT[b], w));
}

// d[b][tj] = (d B)(b) of the tiles' A-column windows of one padded row p.
template <int K>
inline void RowTransform(const float* __restrict p, int64_t tw, float* __restrict d) {
  constexpr int A = Winograd<K>::A;
  int64_t tj = 0;
  for (; tj + kVec <= tw; tj += kVec) RowTransformLanes<K, Vec>(p, tw, tj, d);
  if constexpr (kVec > 4) {
    for (; tj + 4 <= tw; tj += 4) RowTransformLanes<K, Vec4>(p, tw, tj, d);
  }
  for (; tj < tw; ++tj) {
    float w[A];
    for (int j = 0; j < A; ++j) w[j] = p[2 * tj + j];
    for (int b = 0; b < A; ++b) d[b * tw + tj] = Combine(Winograd<K>::BT[b], w);
  }
}

// v_a[k] = (B^T (d B))(a, b) = sum_i BT[a][i] d_i[k] for k in [k, k + L).
template <int K, class V>
inline void ColumnTransformLanes(const float* const (&d)[Winograd<K>::A], int64_t k,
                                 float* const (&v)[Winograd<K>::A]) {
  using W = Winograd<K>;
  constexpr int A = W::A;
  V x[A];
#pragma GCC unroll 8
  for (int i = 0; i < A; ++i) x[i] = LoadV<V>(d[i] + k);
#pragma GCC unroll 8
  for (int a = 0; a < A; ++a) StoreV(v[a] + k, Combine(W::BT[a], x));
}

// v_a[k] = (B^T (d B))(a, b) from the A rows' d[b], k < n.
template <int K>
inline void ColumnTransform(const float* const (&d)[Winograd<K>::A], int64_t n,
                            float* const (&v)[Winograd<K>::A]) {
  constexpr int A = Winograd<K>::A;
  int64_t k = 0;
  for (; k + kVec <= n; k += kVec) ColumnTransformLanes<K, Vec>(d, k, v);
  if constexpr (kVec > 4) {
    for (; k + 4 <= n; k += 4) ColumnTransformLanes<K, Vec4>(d, k, v);
  }
  for (; k < n; ++k) {
    float x[A];
    for (int i = 0; i < A; ++i) x[i] = d[i][k];
    for (int a = 0; a < A; ++a) v[a][k] = Combine(Winograd<K>::BT[a], x);
  }
}

// V[xi][c][t * tw + tj] = (B^T d B)[xi] for the tiles of tile rows [ti0, ti0 + rows): first
// d B for each input row the strip reads (rows overlap by K - 1 between tile rows), then B^T
// down each tile's A rows.
template <int K>
void TransformInput(const ConvGeometry& g, const float* image, int64_t ti0, int64_t rows,
                    int64_t S, float* __restrict V, float* __restrict buf) {
  constexpr int A = Winograd<K>::A;
  const int64_t tw = g.out_w() / 2, C = g.channels, H = g.height, W = g.width;
  const int64_t in_rows = InputRows(g, rows), row_size = PaddedRow(tw);
  const int64_t xi_stride = XiStride(C, S);
  // All the strip's padded rows of a channel are copied before any is read back: a vector
  // load over several just-stored floats waits for the stores to retire (no forwarding).
  float* __restrict padded = buf;
  float* __restrict db = buf + in_rows * row_size;  // [input row][b][tj]
  const int64_t wp = 2 * tw + K - 1;                // = W + 2 pad_w
  const int64_t begin = std::clamp<int64_t>(g.pad_w, 0, wp);
  const int64_t end = std::clamp<int64_t>(W + g.pad_w, begin, wp);
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
    for (int64_t r = 0; r < in_rows; ++r) {
      RowTransform<K>(padded + r * row_size, tw, db + r * A * tw);
    }
    for (int64_t t = 0; t < rows; ++t) {
      float* v = V + c * S + t * tw;
      for (int b = 0; b < A; ++b) {
        const float* d[A];
        float* out[A];
        for (int i = 0; i < A; ++i) {
          d[i] = db + (2 * t + i) * A * tw + b * tw;
          out[i] = v + (i * A + b) * xi_stride;
        }
        ColumnTransform<K>(d, tw, out);
      }
    }
  }
}

// out(k, 2 ti + i, 2 tj + j) = (A^T M A)(i, j) + bias[k] for the strip's tiles: the
// arithmetic over all the strip's tiles at once (whole vectors), then each tile row's two
// output rows interleaved from it.
template <int K>
void TransformOutput(const ConvGeometry& g, int64_t M, const float* __restrict Mb, int64_t ti0,
                     int64_t rows, int64_t S, const float* bias, float* __restrict out,
                     float* __restrict buf) {
  using W = Winograd<K>;
  constexpr int A = W::A;
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
      float s0[A], s1[A];
#pragma GCC unroll 8
      for (int b = 0; b < A; ++b) {
        float col[A];
#pragma GCC unroll 8
        for (int a = 0; a < A; ++a) col[a] = m[(a * A + b) * xi_stride + s];
        s0[b] = Combine(W::AT[0], col);
        s1[b] = Combine(W::AT[1], col);
      }
      y00[s] = Combine(W::AT[0], s0) + add;
      y01[s] = Combine(W::AT[1], s0) + add;
      y10[s] = Combine(W::AT[0], s1) + add;
      y11[s] = Combine(W::AT[1], s1) + add;
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

template <int K>
void PackFilters(int64_t M, int64_t R, const float* w, int64_t i_stride, int64_t r_stride,
                 bool flip, float* packed) {
  using W = Winograd<K>;
  constexpr int A = W::A;
  std::vector<float> u(A * A * M * R);  // u[xi][i][r]
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t r = 0; r < R; ++r) {
      const float* f = w + i * i_stride + r * r_stride;
      double g[K][K];
      for (int a = 0; a < K; ++a)
        for (int b = 0; b < K; ++b) g[a][b] = flip ? f[K * K - 1 - (K * a + b)] : f[K * a + b];
      // G g (A x K), then (G g) G^T (A x A), in double, rounded once.
      double gg[A][K];
      for (int a = 0; a < A; ++a)
        for (int b = 0; b < K; ++b) {
          double s = 0;
          for (int j = 0; j < K; ++j) s += W::G[a][j] * g[j][b];
          gg[a][b] = s;
        }
      for (int a = 0; a < A; ++a)
        for (int b = 0; b < A; ++b) {
          double s = 0;
          for (int j = 0; j < K; ++j) s += gg[a][j] * W::G[b][j];
          u[((a * A + b) * M + i) * R + r] = static_cast<float>(s);
        }
    }
  }
  for (int xi = 0; xi < A * A; ++xi) {
    PackRowBlocks(M, R, u.data() + xi * M * R, R, 1, packed + xi * M * R);
  }
}

// The scratch of one image's pass: V, then M (or the transformed top diff), then the strip's
// buffers; the rows of V_xi for the GEMMs.
struct Workspace {
  Strip strip;
  int64_t v_stride, m_stride;
  float *V, *M, *buf;
  std::vector<int32_t> offsets;  // row c of V_xi
};

template <int K>
Workspace Prepare(const ConvGeometry& g, int64_t M, float* scratch) {
  constexpr int kXi = Winograd<K>::A * Winograd<K>::A;
  Workspace w;
  w.strip = PlanStrip(g, M);
  w.v_stride = XiStride(g.channels, w.strip.tiles);
  w.m_stride = XiStride(M, w.strip.tiles);
  w.V = scratch;
  w.M = w.V + kXi * w.v_stride;
  w.buf = w.M + kXi * w.m_stride;
  w.offsets.resize(g.channels);
  for (int64_t c = 0; c < g.channels; ++c) w.offsets[c] = static_cast<int32_t>(c * w.strip.tiles);
  return w;
}

// f(ti0, rows) for each strip of tile rows, once its V holds the strip's transformed input
// (tiles past the strip's last one, up to whole vectors, zero).
template <int K, class F>
void ForEachStrip(const ConvGeometry& g, const float* image, const Workspace& w, F&& f) {
  constexpr int kXi = Winograd<K>::A * Winograd<K>::A;
  const int64_t th = g.out_h() / 2, tw = g.out_w() / 2, S = w.strip.tiles;
  for (int64_t ti0 = 0; ti0 < th; ti0 += w.strip.rows) {
    const int64_t rows = std::min(w.strip.rows, th - ti0);
    if (rows * tw < S) {
      for (int xi = 0; xi < kXi; ++xi)
        for (int64_t c = 0; c < g.channels; ++c) {
          float* row = w.V + xi * w.v_stride + c * S;
          std::fill(row + rows * tw, row + S, 0.f);
        }
    }
    TransformInput<K>(g, image, ti0, rows, S, w.V, w.buf);
    f(ti0, rows);
  }
}

template <int K>
void Convolve(const ConvGeometry& g, int64_t M, const float* packed, const float* image,
              const float* bias, float* out, float* scratch) {
  constexpr int kXi = Winograd<K>::A * Winograd<K>::A;
  const int64_t R = g.channels;
  const Workspace w = Prepare<K>(g, M, scratch);
  const int64_t S = w.strip.tiles;
  ForEachStrip<K>(g, image, w, [&](int64_t ti0, int64_t rows) {
    for (int xi = 0; xi < kXi; ++xi) {
      ImplicitGemm(M, R, packed + xi * M * R, w.offsets.data(), w.V + xi * w.v_stride, S,
                   nullptr, w.M + xi * w.m_stride, S);
    }
    TransformOutput<K>(g, M, w.M, ti0, rows, S, bias, out, w.buf);
  });
}

// (A dy A^T) per tile of the strip's tiles, for each of the M channels of the top diff dy
// (M, H_out, W_out): Mt[xi][k][s], the adjoint of TransformOutput; tiles past the strip's
// last one are zero.
template <int K>
void TransformTopDiff(const ConvGeometry& g, int64_t M, const float* __restrict dy, int64_t ti0,
                      int64_t rows, int64_t S, float* __restrict Mt, float* __restrict buf) {
  using W = Winograd<K>;
  constexpr int A = W::A;
  const int64_t tw = g.out_w() / 2, wo = g.out_w(), plane = g.out_h() * wo;
  const int64_t xi_stride = XiStride(M, S), n = rows * tw;
  float* __restrict d00 = buf;
  float* __restrict d01 = buf + S;
  float* __restrict d10 = buf + 2 * S;
  float* __restrict d11 = buf + 3 * S;
  for (int64_t j = n; j < S; ++j) d00[j] = d01[j] = d10[j] = d11[j] = 0.f;
  for (int64_t k = 0; k < M; ++k) {
    for (int64_t t = 0; t < rows; ++t) {
      const float* r0 = dy + k * plane + 2 * (ti0 + t) * wo;
      const float* r1 = r0 + wo;
      const int64_t at = t * tw;
      for (int64_t tj = 0; tj < tw; ++tj) {
        d00[at + tj] = r0[2 * tj];
        d01[at + tj] = r0[2 * tj + 1];
        d10[at + tj] = r1[2 * tj];
        d11[at + tj] = r1[2 * tj + 1];
      }
    }
    float* __restrict m = Mt + k * S;
    for (int64_t j = 0; j < S; ++j) {
      float t0[A], t1[A];  // t_i[b] = sum_j AT[j][b] dy[i][j]
#pragma GCC unroll 8
      for (int b = 0; b < A; ++b) {
        t0[b] = W::AT[0][b] * d00[j] + W::AT[1][b] * d01[j];
        t1[b] = W::AT[0][b] * d10[j] + W::AT[1][b] * d11[j];
      }
#pragma GCC unroll 8
      for (int a = 0; a < A; ++a)
#pragma GCC unroll 8
        for (int b = 0; b < A; ++b)
          m[(a * A + b) * xi_stride + j] = W::AT[0][a] * t0[b] + W::AT[1][a] * t1[b];
    }
  }
}

template <int K>
void WeightGrad(const ConvGeometry& g, int64_t M, int64_t ld, const float* image,
                const float* dy, float* dU, float* scratch) {
  constexpr int kXi = Winograd<K>::A * Winograd<K>::A;
  const int64_t R = g.channels;
  const Workspace w = Prepare<K>(g, M, scratch);
  const int64_t S = w.strip.tiles;
  float* dyt = w.buf + BufferSize(g, w.strip);  // one xi's transformed top diff, (S, ld)
  ForEachStrip<K>(g, image, w, [&](int64_t ti0, int64_t rows) {
    TransformTopDiff<K>(g, M, dy, ti0, rows, S, w.M, w.buf);
    for (int xi = 0; xi < kXi; ++xi) {
      TransposeToVectors(M, S, w.M + xi * w.m_stride, S, dyt, ld);
      ImplicitWeightGrad(R, ld, S, dyt, w.offsets.data(), w.V + xi * w.v_stride,
                         dU + xi * R * ld);
    }
  });
}

template <int K>
void AddWeightGrad(int64_t M, int64_t R, int64_t ld, const float* dU, float* dw,
                   int64_t i_stride, int64_t r_stride) {
  using W = Winograd<K>;
  constexpr int A = W::A;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t r = 0; r < R; ++r) {
      double u[A][A];
      for (int a = 0; a < A; ++a)
        for (int b = 0; b < A; ++b) u[a][b] = dU[((a * A + b) * R + r) * ld + i];
      double gu[K][A];  // G^T u
      for (int p = 0; p < K; ++p)
        for (int b = 0; b < A; ++b) {
          double s = 0;
          for (int a = 0; a < A; ++a) s += W::G[a][p] * u[a][b];
          gu[p][b] = s;
        }
      float* f = dw + i * i_stride + r * r_stride;
      for (int p = 0; p < K; ++p)
        for (int q = 0; q < K; ++q) {
          double s = 0;
          for (int b = 0; b < A; ++b) s += gu[p][b] * W::G[b][q];
          f[p * K + q] += static_cast<float>(s);
        }
    }
}

}  // namespace

bool WinogradFits(const ConvGeometry& g) {
  return (g.kernel_h == 3 || g.kernel_h == 5) && g.kernel_w == g.kernel_h &&
         g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
         g.out_h() > 0 && g.out_w() > 0 && g.out_h() % 2 == 0 && g.out_w() % 2 == 0;
}

int64_t WinogradFilterSize(int64_t kernel, int64_t M, int64_t R) {
  return TileElements(kernel) * M * R;
}

void WinogradPackFilters(int64_t kernel, int64_t M, int64_t R, const float* w, int64_t i_stride,
                         int64_t r_stride, bool flip, float* packed) {
  if (kernel == 3) {
    PackFilters<3>(M, R, w, i_stride, r_stride, flip, packed);
  } else {
    PackFilters<5>(M, R, w, i_stride, r_stride, flip, packed);
  }
}

int64_t WinogradScratchSize(const ConvGeometry& g, int64_t M) {
  const Strip s = PlanStrip(g, M);
  const int64_t ld = (M + kVec - 1) / kVec * kVec;  // WinogradWeightGrad's transposed diff
  return TileElements(g.kernel_h) * (XiStride(g.channels, s.tiles) + XiStride(M, s.tiles)) +
         BufferSize(g, s) + s.tiles * ld;
}

int64_t WinogradWeightGradSize(int64_t kernel, int64_t R, int64_t ld) {
  return TileElements(kernel) * R * ld;
}

void WinogradWeightGrad(const ConvGeometry& g, int64_t M, int64_t ld, const float* image,
                        const float* dy, float* dU, float* scratch) {
  if (g.kernel_h == 3) {
    WeightGrad<3>(g, M, ld, image, dy, dU, scratch);
  } else {
    WeightGrad<5>(g, M, ld, image, dy, dU, scratch);
  }
}

void WinogradAddWeightGrad(int64_t kernel, int64_t M, int64_t R, int64_t ld, const float* dU,
                           float* dw, int64_t i_stride, int64_t r_stride) {
  if (kernel == 3) {
    AddWeightGrad<3>(M, R, ld, dU, dw, i_stride, r_stride);
  } else {
    AddWeightGrad<5>(M, R, ld, dU, dw, i_stride, r_stride);
  }
}

void WinogradConv(const ConvGeometry& g, int64_t M, const float* packed, const float* image,
                  const float* bias, float* out, float* scratch) {
  if (g.kernel_h == 3) {
    Convolve<3>(g, M, packed, image, bias, out, scratch);
  } else {
    Convolve<5>(g, M, packed, image, bias, out, scratch);
  }
}

}  // namespace augdrop
