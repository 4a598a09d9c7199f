// The FMA peak of one core: 12 independent chains of 16-wide (then 8-wide) fused
// multiply-adds, no memory traffic. bench/NOTES.md step 5.
//   g++ -O3 -funroll-loops -march=native bench/fma_peak.cpp -o /tmp/fma_peak && /tmp/fma_peak
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstring>

template <class V, class Fma, class Set>
double Peak(Fma fma, Set set, int lanes) {
  V acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = set(0.001f * i);
  const V b = set(0.9999f), c = set(1e-6f);
  const long n = 200000000;
  const auto t = std::chrono::steady_clock::now();
  for (long k = 0; k < n; ++k)
    for (int i = 0; i < 12; ++i) acc[i] = fma(acc[i], b, c);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  float sum = 0;  // every lane of every chain is used, so none can be left out
  for (int i = 0; i < 12; ++i) {
    float lanes_out[16];
    std::memcpy(lanes_out, &acc[i], sizeof(V));
    for (int l = 0; l < lanes; ++l) sum += lanes_out[l];
  }
  std::printf("(checksum %g) ", sum);
  return n * 12.0 * lanes * 2 / s / 1e9;
}

int main() {
#ifdef __AVX512F__
  std::printf("512-bit: %.1f GFLOP/s\n",
              Peak<__m512>([](__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); },
                           [](float x) { return _mm512_set1_ps(x); }, 16));
#endif
  std::printf("256-bit: %.1f GFLOP/s\n",
              Peak<__m256>([](__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); },
                           [](float x) { return _mm256_set1_ps(x); }, 8));
}
