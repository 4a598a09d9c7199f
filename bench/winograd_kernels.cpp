// The WINOGRAD engine's pieces alone (math/winograd.hpp) against IMPLICIT's direct kernels on
// one image of each of ResNet-20's 3x3 stride-1 shapes, one thread: us per image for the
// whole Winograd convolution, its 16 GEMMs alone, and IMPLICIT's shift + GEMM. bench/NOTES.md
// step 15.
//   g++ -O3 -march=native -std=gnu++17 -Icsrc bench/winograd_kernels.cpp csrc/math/winograd.cpp \
//       csrc/math/implicit_gemm.cpp csrc/math/im2col.cpp -o /tmp/winograd_kernels && /tmp/winograd_kernels
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "math/implicit_gemm.hpp"
#include "math/winograd.hpp"

using namespace augdrop;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
double MicrosPerCall(F&& f) {
  f();
  int reps = 1;
  for (;;) {
    const double t0 = Now();
    for (int i = 0; i < reps; ++i) f();
    const double t = Now() - t0;
    if (t > 0.2) return t / reps * 1e6;
    reps *= 2;
  }
}

void Bench(int64_t channels, int64_t size) {
  const ConvGeometry g{channels, size, size, 3, 3, 1, 1, 1, 1, 1, 1};
  const int64_t M = channels, K = channels * 9, hw = size * size;
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> u(-1, 1);
  auto filled = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = u(gen);
    return v;
  };
  const std::vector<float> image = filled(channels * hw), w = filled(M * K);
  std::vector<float> out(M * hw), packed_u(16 * M * channels);
  std::vector<float> scratch(WinogradScratchSize(g, M) + 64);
  WinogradPackFilters(M, channels, w.data(), K, 9, false, packed_u.data());
  const double wino = MicrosPerCall([&] {
    WinogradConv(g, M, packed_u.data(), image.data(), nullptr, out.data(), scratch.data());
  });
  // The 16 GEMMs alone, on whole-image tile rows.
  const int64_t tiles = (hw / 4 + kVec - 1) / kVec * kVec;
  std::vector<float> V = filled(16 * channels * tiles), Mb(16 * M * tiles);
  std::vector<int32_t> offs(channels);
  for (int64_t c = 0; c < channels; ++c) offs[c] = static_cast<int32_t>(c * tiles);
  const double gemm = MicrosPerCall([&] {
    for (int xi = 0; xi < 16; ++xi)
      ImplicitGemm(M, channels, packed_u.data() + xi * M * channels, offs.data(),
                   V.data() + xi * channels * tiles, tiles, nullptr, Mb.data() + xi * M * tiles, tiles);
  });
  std::vector<float> shifted(ShiftedSize(g)), packed(M * K);
  std::vector<int32_t> offsets(K);
  RowOffsets(g, offsets.data());
  PackRowBlocks(M, K, w.data(), K, 1, packed.data());
  const double direct = MicrosPerCall([&] {
    ShiftInput(image.data(), g, shifted.data());
    ImplicitGemm(M, K, packed.data(), offsets.data(), shifted.data(), hw, nullptr, out.data(), hw);
  });
  const double flop = 2.0 * M * K * hw;
  std::printf("%3lld ch %2lldx%-2lld  winograd %7.1f us (GEMMs %6.1f, transforms %6.1f)  implicit %7.1f us  "
              "speedup %.2fx  (direct-equivalent GFLOP/s: %.0f vs %.0f)\n",
              (long long)channels, (long long)size, (long long)size, wino, gemm, wino - gemm, direct,
              direct / wino, flop / wino * 1e-3, flop / direct * 1e-3);
}

}  // namespace

int main() {
  Bench(16, 32);
  Bench(32, 16);
  Bench(64, 8);
  return 0;
}
