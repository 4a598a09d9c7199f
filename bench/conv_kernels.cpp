// The IMPLICIT convolution kernels alone (math/implicit_gemm.hpp) on one image of each of the
// paper's convolutions, one thread: shift, transpose, weight gradient and forward, in us and
// GFLOP/s. bench/NOTES.md step 6.
//   g++ -O3 -march=native -std=gnu++17 -Icsrc bench/conv_kernels.cpp csrc/math/implicit_gemm.cpp \
//       csrc/math/im2col.cpp -o /tmp/conv_kernels && /tmp/conv_kernels
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "math/implicit_gemm.hpp"

using namespace augdrop;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Bench(const char* name, int64_t channels, int64_t size, int64_t outputs, int64_t pad) {
  const ConvGeometry g{channels, size, size, 5, 5, pad, pad, 1, 1, 1, 1};
  const int64_t K = channels * 25, hw = g.out_h() * g.out_w();
  const int64_t ld = (outputs + kVec - 1) / kVec * kVec;
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> u(-1, 1);
  auto filled = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = u(gen);
    return v;
  };
  std::vector<float> x = filled(channels * size * size), dy = filled(outputs * hw);
  std::vector<float> w = filled(outputs * K), shifted(ShiftedSize(g)), dyt(hw * ld), dwt(K * ld);
  std::vector<float> packed(outputs * K), y(outputs * hw);
  std::vector<int32_t> offsets(K);
  RowOffsets(g, offsets.data());
  double shift = 1e9, transpose = 1e9, grad = 1e9, forward = 1e9;
  for (int r = 0; r < 200; ++r) {
    const double t0 = Now();
    ShiftInput(x.data(), g, shifted.data());
    const double t1 = Now();
    TransposeToVectors(outputs, hw, dy.data(), hw, dyt.data(), ld);
    const double t2 = Now();
    ImplicitWeightGrad(K, ld, hw, dyt.data(), offsets.data(), shifted.data(), dwt.data());
    PackRowBlocks(outputs, K, w.data(), K, 1, packed.data());  // once per batch in the layer
    const double t3 = Now();
    ImplicitGemm(outputs, K, packed.data(), offsets.data(), shifted.data(), hw, nullptr, y.data(), hw);
    const double t4 = Now();
    shift = std::min(shift, t1 - t0);
    transpose = std::min(transpose, t2 - t1);
    grad = std::min(grad, t3 - t2);
    forward = std::min(forward, t4 - t3);
  }
  const double flops = 2.0 * outputs * K * hw;
  std::printf("%-22s shift %6.1f us  transpose %5.1f us  weight grad %6.1f us (%5.1f GFLOP/s)  "
              "forward %6.1f us (%5.1f GFLOP/s)\n",
              name, 1e6 * shift, 1e6 * transpose, 1e6 * grad, flops / grad / 1e9, 1e6 * forward,
              flops / forward / 1e9);
}

}  // namespace

int main() {
  Bench("cifar10_quick conv1", 3, 32, 32, 2);
  Bench("cifar10_quick conv2", 32, 16, 32, 2);
  Bench("cifar10_quick conv3", 32, 8, 64, 2);
  Bench("LeNet conv1", 1, 28, 20, 0);
  Bench("LeNet conv2", 20, 12, 50, 0);
}
